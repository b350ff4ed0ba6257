package cli

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/portico-gw/portico/conf"
	"github.com/portico-gw/portico/internal/proc"
	"github.com/portico-gw/portico/tmpl"
)

// handToUser gives nginx_config.user what a root-run gateway wrote in its
// home, so that the same home can later be started by that user without
// root (an unprivileged restart): logs/ and data/ (error and access logs,
// pid file, control socket, the embedded etcd's data, the children's cache)
// and the runtime file. It does nothing unless this process is root and
// nginx_config.user is set.
//
// The master itself stays root while it runs (it binds privileged ports and
// switches its children's credentials), so files it creates while running
// (a new etcd WAL segment, a log file logrotate did not pre-create) belong
// to root until the next start, quit or stop through this CLI, which call
// handToUser. The log files are created here when missing, owned by the
// user, so that the master opening them as root keeps that owner.
func handToUser(g *Globals, cfg *conf.Config) error {
	if os.Geteuid() != 0 || cfg.NginxConfig.User == "" {
		return nil
	}
	uid, gid, err := proc.LookupUser(tmpl.SplitUser(cfg.NginxConfig.User))
	if err != nil {
		return err
	}
	for _, dir := range []string{"logs", "data"} {
		path := filepath.Join(cfg.Prefix, dir)
		if err := os.MkdirAll(path, 0o755); err != nil {
			return err
		}
		if err := chownTree(path, uid, gid); err != nil {
			return err
		}
	}
	for _, p := range []string{cfg.NginxConfig.ErrorLog, accessLog(cfg)} {
		if p == "" {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return err
		}
		err = f.Chown(uid, gid)
		f.Close()
		if err != nil {
			return err
		}
	}
	rt := filepath.Join(cfg.Prefix, "conf", tmpl.FileName)
	if err := os.Lchown(rt, uid, gid); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func accessLog(cfg *conf.Config) string {
	h := cfg.NginxConfig.HTTP
	if !h.EnableAccessLog || h.AccessLog == "off" {
		return ""
	}
	return h.AccessLog
}

// chownTree chowns root and everything under it, symlinks themselves rather
// than their targets.
func chownTree(root string, uid, gid int) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) { // removed meanwhile (a socket, a temp file)
				return nil
			}
			return err
		}
		if err := os.Lchown(path, uid, gid); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	})
}
