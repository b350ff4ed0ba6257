package store

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	grpcbackoff "google.golang.org/grpc/backoff"
)

// ClientConfig is what deployment.etcd says about reaching etcd.
type ClientConfig struct {
	Endpoints []string
	User      string // with Password: etcd authentication
	Password  string
	TLSCert   string // client certificate and key files (mutual TLS); optional
	TLSKey    string
	TLSCA     string // PEM file of trusted roots; "" = system roots
	TLSVerify bool   // verify the server certificate (deployment.etcd.tls.verify)
	TLSSNI    string // server name to verify and send; "" = the endpoint host
	// DialTimeout bounds the first connection and the authentication done
	// by clientv3.New (5s).
	DialTimeout time.Duration
	// ReconnectMax caps gRPC's reconnect back-off (1s). gRPC's own default
	// grows to 120s, which would keep a worker away from an etcd that is
	// already back (RELIABILITY E2).
	ReconnectMax time.Duration
}

// NewClient returns an etcd client for cfg: TLS when an endpoint is https
// or a client certificate is given, user/password authentication, a short
// capped reconnect back-off, keepalive pings, and no client logging (the
// store logs what matters). With user/password, clientv3 authenticates
// here, so this fails while etcd is down: pass it as Options.Dial.
func NewClient(cfg ClientConfig) (*clientv3.Client, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("etcd client: no endpoints")
	}
	setDefault(&cfg.DialTimeout, 5*time.Second)
	setDefault(&cfg.ReconnectMax, time.Second)
	cc := clientv3.Config{
		Endpoints:            cfg.Endpoints,
		DialTimeout:          cfg.DialTimeout,
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 5 * time.Second,
		Username:             cfg.User,
		Password:             cfg.Password,
		Logger:               zap.NewNop(),
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: grpcbackoff.Config{
				BaseDelay:  100 * time.Millisecond,
				Multiplier: 1.6,
				Jitter:     0.2,
				MaxDelay:   cfg.ReconnectMax,
			},
			MinConnectTimeout: cfg.DialTimeout,
		})},
	}
	useTLS := cfg.TLSCert != ""
	for _, ep := range cfg.Endpoints {
		useTLS = useTLS || strings.HasPrefix(ep, "https://")
	}
	if useTLS {
		tc, err := tlsConfig(cfg)
		if err != nil {
			return nil, err
		}
		cc.TLS = tc
	}
	cli, err := clientv3.New(cc)
	if err != nil {
		return nil, fmt.Errorf("etcd client for %v: %w", cfg.Endpoints, err)
	}
	return cli, nil
}

func tlsConfig(cfg ClientConfig) (*tls.Config, error) {
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: !cfg.TLSVerify,
		ServerName:         cfg.TLSSNI,
	}
	if cfg.TLSCert != "" || cfg.TLSKey != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("etcd tls cert %s: %w", cfg.TLSCert, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	if cfg.TLSCA != "" {
		pem, err := os.ReadFile(cfg.TLSCA)
		if err != nil {
			return nil, fmt.Errorf("etcd tls ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("etcd tls ca %s: no certificate found", cfg.TLSCA)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}
