package worker

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"syscall"

	"github.com/portico-gw/portico/resource/keyring"
	"github.com/portico-gw/portico/worker/admin"
	"github.com/portico-gw/portico/worker/source"
	"github.com/portico-gw/portico/worker/store"
)

// adminHandler builds the Admin API served on the admin listener addr.
func (w *Worker) adminHandler(addr string) (http.Handler, error) {
	rt := w.env.Runtime
	if rt.ConfigProvider == "yaml" {
		// The file is the configuration; there is nothing to write to.
		return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			rw.Header().Set("Content-Type", "application/json")
			rw.WriteHeader(http.StatusBadRequest)
			rw.Write([]byte(`{"error_msg":"the Admin API is not available with config_provider yaml: edit conf/apisix.yaml"}` + "\n"))
		}), nil
	}
	a := rt.Admin
	allow, err := admin.ParseAllow(a.AllowAdmin)
	if err != nil {
		return nil, err
	}
	client, err := store.NewClient(source.ClientConfig(rt.Etcd))
	if err != nil {
		return nil, fmt.Errorf("admin etcd client: %w", err)
	}
	var keys []admin.Key
	for _, k := range a.Keys {
		keys = append(keys, admin.Key{Name: k.Name, Key: k.Key, Role: k.Role})
	}
	host, _, _ := net.SplitHostPort(addr)
	ip, _ := netip.ParseAddr(host)
	cfg := admin.Config{
		Prefix: rt.Etcd.Prefix, Client: client,
		KeyRequired: a.KeyRequired, Keys: keys,
		AllowAll: a.AllowAll, Allow: allow, Loopback: ip.IsLoopback(),
		CORS: a.CORS, APIVersion: a.APIVersion, Server: w.serverHeader(),
		Plugins: a.Plugins, StreamPlugins: a.StreamPlugins, Stream: a.Stream,
		Timeout: rt.Etcd.Timeout,
		// plugins/reload: the master reloads config.yaml (plugin lists
		// included) into a new generation, with no request lost.
		Reload: func() error { return syscall.Kill(os.Getppid(), syscall.SIGHUP) },
	}
	// Private keys are encrypted whenever there is a keyring; plugin
	// fields only with enable_encrypt_fields (APISIX's rules).
	if cfg.Keyring, err = keyring.New(a.Keyring, a.EncryptFields); err != nil {
		return nil, fmt.Errorf("apisix.data_encryption.keyring: %w", err)
	}
	h, err := admin.New(cfg)
	if err != nil {
		return nil, err
	}
	w.closers = append(w.closers, client.Close)
	return h, nil
}
