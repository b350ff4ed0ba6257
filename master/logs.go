package master

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/portico-gw/portico/conf"
	"github.com/portico-gw/portico/internal/logx"
	"github.com/portico-gw/portico/ipc"
)

// openLogs opens the error and access logs. The master opens them (as root
// when started so) and children inherit the descriptors, as in nginx.
func (m *Master) openLogs(cfg *conf.Config) error {
	ef, af, err := openLogFiles(cfg.NginxConfig.ErrorLog, accessLogPath(cfg))
	if err != nil {
		return err
	}
	m.errLogFile = ef
	m.accessFile = af
	m.errLog = logx.NewWriter(ef)
	m.base = logx.New(m.errLog, cfg.NginxConfig.ErrorLogLevel)
	m.log = m.base.With().Str(logx.FieldComponent, "master").Logger()
	return nil
}

func accessLogPath(cfg *conf.Config) string {
	h := cfg.NginxConfig.HTTP
	if !h.EnableAccessLog || h.AccessLog == "off" {
		return ""
	}
	return h.AccessLog
}

func openLogFiles(errPath, accessPath string) (ef, af *os.File, err error) {
	if err := os.MkdirAll(filepath.Dir(errPath), 0o755); err != nil {
		return nil, nil, fmt.Errorf("nginx_config.error_log: %w", err)
	}
	ef, err = logx.OpenFile(errPath)
	if err != nil {
		return nil, nil, fmt.Errorf("nginx_config.error_log: %w", err)
	}
	if accessPath != "" {
		if err := os.MkdirAll(filepath.Dir(accessPath), 0o755); err != nil {
			ef.Close()
			return nil, nil, fmt.Errorf("nginx_config.http.access_log: %w", err)
		}
		af, err = logx.OpenFile(accessPath)
		if err != nil {
			ef.Close()
			return nil, nil, fmt.Errorf("nginx_config.http.access_log: %w", err)
		}
	}
	return ef, af, nil
}

// reopenLogs reopens both logs by path (after logrotate moved them) and
// hands the new descriptors to every child.
func (m *Master) reopenLogs() {
	m.mu.Lock()
	rt := m.gen.rt
	m.mu.Unlock()
	access := rt.Logs.AccessLog
	if access == "off" {
		access = ""
	}
	ef, af, err := openLogFiles(rt.Logs.ErrorLog, access)
	if err != nil {
		m.log.Error().Err(err).Msg("reopen logs failed, keeping the old files")
		return
	}
	m.mu.Lock()
	m.errLog.Swap(ef)
	oldErr, oldAccess := m.errLogFile, m.accessFile
	m.errLogFile, m.accessFile = ef, af
	var kids []*childProc
	for c := range m.children {
		kids = append(kids, c)
	}
	m.mu.Unlock()
	for _, c := range kids {
		files := []*os.File{ef}
		if af != nil && c.role == "worker" {
			files = append(files, af)
		}
		if err := c.send(ipc.KindReopen, files...); err != nil {
			m.log.Warn().Err(err).Str("child", c.String()).Msg("cannot send reopened logs")
		}
	}
	oldErr.Close()
	if oldAccess != nil {
		oldAccess.Close()
	}
	m.log.Info().Msg("logs reopened")
}
