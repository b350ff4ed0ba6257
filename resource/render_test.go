package resource

import (
	"errors"
	"sync"
	"testing"
)

func TestLuaFormatting(t *testing.T) {
	for in, want := range map[string]string{
		`abc`:       `"abc"`,
		`a"b`:       `"a\"b"`,
		`^\S+$`:     `"^\\S+$"`,
		"a\nb":      "\"a\\\nb\"",
		"a\rb":      `"a\13b"`,
		"a\x00":     `"a\0"`,
		"a\x001":    `"a\0001"`,
		"tab\there": `"tab\9here"`,
	} {
		if got := luaQuote(in); got != want {
			t.Errorf("luaQuote(%q) = %s, want %s", in, got, want)
		}
	}
	for in, want := range map[float64]string{0: "0", -1: "-1", 0.5: "0.5", 600: "600", 1e15: "1e+15", 123456789012: "123456789012", -1.5: "-1.5"} {
		if got := formatLuaNumber(in); got != want {
			t.Errorf("formatLuaNumber(%v) = %s, want %s", in, got, want)
		}
	}
}

func TestErrorPathAndReason(t *testing.T) {
	_, err := Validate(Routes, []byte(`{"uri":"/a","upstream":{"nodes":[{"host":"a","port":80,"weight":1}],"checks":{"active":{"healthy":{"http_statuses":[200,700]}}}}}`))
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("%T %v", err, err)
	}
	if e.Reason != ReasonSchema || e.Path != "/upstream/checks/active/healthy/http_statuses/1" {
		t.Fatalf("reason %d path %q", e.Reason, e.Path)
	}
	if e.Detail != `property "upstream" validation failed: property "checks" validation failed: property "active" validation failed: property "healthy" validation failed: property "http_statuses" validation failed: failed to validate item 2: expected 700 to be at most 599` {
		t.Fatalf("detail %q", e.Detail)
	}
	if e.Error() != "invalid configuration: "+e.Detail {
		t.Fatalf("msg %q", e.Error())
	}
	_, err = Validate(Routes, []byte(`{"uri":"/a","upstream_id":1,"host":"a","hosts":["b"]}`))
	if !errors.As(err, &e) || e.Reason != ReasonCheck || e.Detail != e.Error() {
		t.Fatalf("%#v", err)
	}
}

func TestErrorSelectionIsDeterministic(t *testing.T) {
	// Several failures at once: the same one must be reported every time,
	// following api7's check order (properties by name, before composites).
	raw := []byte(`{"uri":1,"upstream_id":0,"zzz":1,"aaa":2,"methods":["X"],"priority":"p","timeout":{}}`)
	want := `invalid configuration: property "methods" validation failed: failed to validate item 1: matches none of the enum values`
	for i := 0; i < 200; i++ {
		_, err := Validate(Routes, raw)
		if err == nil || err.Error() != want {
			t.Fatalf("run %d: got %v", i, err)
		}
	}
	raw = []byte(`{"uri":"/a","upstream_id":1,"zzz":1,"aaa":2}`)
	for i := 0; i < 50; i++ {
		_, err := Validate(Routes, raw)
		if err == nil || err.Error() != "invalid configuration: additional properties forbidden, found aaa" {
			t.Fatalf("run %d: got %v", i, err)
		}
	}
	// Type errors win over everything else at the same level.
	_, err := Validate(Upstreams, []byte(`{"nodes":{},"checks":{"active":"x","passive":1}}`))
	if err == nil || err.Error() != `invalid configuration: property "checks" validation failed: property "active" validation failed: wrong type: expected object, got string` {
		t.Fatalf("got %v", err)
	}
}

func TestConcurrentValidate(t *testing.T) {
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				if _, err := Validate(Routes, []byte(benchRoute)); err != nil {
					t.Error(err)
					return
				}
				if _, err := Validate(Upstreams, []byte(`{"nodes":{"a:0":1}}`)); err == nil {
					t.Error("accepted bad port")
					return
				}
			}
		}()
	}
	wg.Wait()
}
