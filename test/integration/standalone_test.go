package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// config_provider yaml: routes come from conf/apisix.yaml, re-read when it
// changes; a broken file keeps the last good configuration.
func TestStandaloneYAML(t *testing.T) {
	g := newGateway(t, 2)
	cfg := strings.Replace(readConfig(t, g), "deployment:\n", "deployment:\n  role: data_plane\n  role_data_plane:\n    config_provider: yaml\n", 1)
	// Workers see only the environment nginx_config.envs lists, as nginx's.
	cfg = strings.Replace(cfg, "nginx_config:\n", "nginx_config:\n  envs: [PORTICO_TEST_UPSTREAM]\n", 1)
	g.WriteRawConfig(cfg)
	up := echoUpstream(t, "file")
	file := filepath.Join(g.Prefix, "conf", "apisix.yaml")
	write := func(body string) {
		t.Helper()
		tmp := file + ".tmp"
		if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, file); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PORTICO_TEST_UPSTREAM", up)
	write(`routes:
  - id: 1
    uri: /one
    upstream:
      nodes:
        "${{PORTICO_TEST_UPSTREAM}}": 1
#END
`)
	g.Start()
	if st := g.Status(); st.Etcd.Running {
		t.Error("an embedded etcd runs in standalone mode")
	}
	waitServed(t, g, "/one")
	if code, body := get(t, g, "/one", ""); code != 200 || !strings.HasPrefix(body, "file GET /one") {
		t.Errorf("/one: %d %q", code, body)
	}

	write(`routes:
  - id: 1
    uri: /one
    upstream:
      nodes:
        "` + up + `": 1
  - id: 2
    uri: /two
    upstream:
      nodes:
        "` + up + `": 1
#END
`)
	eventually(t, 5*time.Second, func() error {
		for i := 0; i < 10; i++ { // both workers
			if code, _ := get(t, g, "/two", ""); code != 200 {
				return fmt.Errorf("/two not served yet")
			}
		}
		return nil
	})

	// An invalid item and a half-written file are both refused whole.
	for _, broken := range []string{
		"routes:\n  - id: 1\n    uri: 42\n#END\n",
		"routes:\n  - id: 1\n    uri: /one\n",
	} {
		write(broken)
		eventually(t, 5*time.Second, func() error {
			if !strings.Contains(g.Logs(), "standalone config rejected") {
				return fmt.Errorf("rejection not logged yet")
			}
			return nil
		})
		time.Sleep(1500 * time.Millisecond) // a poll interval and a half: a wrong apply would show
		if code, _ := get(t, g, "/two", ""); code != 200 {
			t.Errorf("after a broken file (%q) /two answers %d", broken, code)
		}
	}
	ws := workers(g.Status(), 0)
	if ws[0].ConfigHash == "" || ws[0].ConfigHash != ws[1].ConfigHash {
		t.Errorf("workers serve different configurations: %+v", ws)
	}
}
