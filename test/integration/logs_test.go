package integration

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestAccessLogAndReopen(t *testing.T) {
	g := newGateway(t, 2)
	g.Start()
	access := filepath.Join(g.Prefix, "logs", "access.log")
	req, _ := http.NewRequest("GET", g.URL("/first?x=1"), nil)
	req.Header.Set("User-Agent", "portico-test")
	req.SetBasicAuth("alice", "s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var line string
	eventually(t, 2*time.Second, func() error {
		data, _ := os.ReadFile(access)
		for _, l := range strings.Split(string(data), "\n") {
			if strings.Contains(l, "/first?x=1") {
				line = l
				return nil
			}
		}
		return fmt.Errorf("no access log line yet")
	})
	// APISIX's default format, upstream fields unset.
	re := regexp.MustCompile(`^127\.0\.0\.1 - alice \[\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] 127\.0\.0\.1:\d+ "GET /first\?x=1 HTTP/1\.1" 404 36 \d+\.\d{3} "-" "portico-test" - - - "-://--"$`)
	if !re.MatchString(line) {
		t.Errorf("access log line:\n%s", line)
	}
	if strings.Contains(line, "s3cret") {
		t.Error("password in the access log")
	}

	// logrotate without copytruncate: move the files, then reopen.
	for _, f := range []string{"access.log", "error.log"} {
		p := filepath.Join(g.Prefix, "logs", f)
		if err := os.Rename(p, p+".1"); err != nil {
			t.Fatal(err)
		}
	}
	g.MustRun("reopen")
	// Reopen is asynchronous, as nginx's: wait until every child (two
	// workers and the agent) has switched, which each logs into the new file.
	eventually(t, 5*time.Second, func() error {
		data, _ := os.ReadFile(filepath.Join(g.Prefix, "logs", "error.log"))
		if n := strings.Count(string(data), "log files reopened"); n < 3 {
			return fmt.Errorf("%d of 3 children logged the reopen into the new error.log", n)
		}
		return nil
	})
	// From then on every worker writes to the new access log.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	for i := 0; i < 20; i++ {
		resp, err := client.Get(g.URL(fmt.Sprintf("/second/%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	eventually(t, 2*time.Second, func() error {
		data, _ := os.ReadFile(access)
		if n := strings.Count(string(data), "/second/"); n != 20 {
			return fmt.Errorf("new access.log holds %d of 20 requests", n)
		}
		return nil
	})
	rotated, _ := os.ReadFile(access + ".1")
	if strings.Contains(string(rotated), "/second/") {
		t.Error("a request after reopen went to the rotated file")
	}
}
