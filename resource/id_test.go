package resource

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestValidID(t *testing.T) {
	for _, id := range []string{"1", "a", "route-1", "a_b.c-D", strings.Repeat("x", 64), "00000000000000000042", "."} {
		if err := ValidID(id); err != nil {
			t.Errorf("ValidID(%q) = %v", id, err)
		}
	}
	for _, id := range []string{"", strings.Repeat("x", 65), "a b", "a/b", "a:b", "é", "a*", "%41"} {
		err := ValidID(id)
		if err == nil {
			t.Errorf("ValidID(%q) accepted", id)
			continue
		}
		if err.Error() != `invalid configuration: property "id" validation failed: object matches none of the required` {
			t.Errorf("ValidID(%q) = %q", id, err)
		}
	}
}

func TestBodyIDRules(t *testing.T) {
	const bad = `invalid configuration: property "id" validation failed: object matches none of the required`
	runCases(t, Services, []vcase{
		{"string id", `{"id":"svc-1"}`, ""},
		{"integer id", `{"id":1}`, ""},
		{"64 chars", `{"id":"` + strings.Repeat("a", 64) + `"}`, ""},
		{"65 chars", `{"id":"` + strings.Repeat("a", 65) + `"}`, bad},
		{"empty", `{"id":""}`, bad},
		{"zero", `{"id":0}`, bad},
		{"negative", `{"id":-1}`, bad},
		{"float", `{"id":1.5}`, bad},
		{"bad chars", `{"id":"a/b"}`, bad},
		{"bool", `{"id":true}`, bad},
		{"object", `{"id":{}}`, bad},
	})
}

func TestIDValues(t *testing.T) {
	s := mustValidate[Service](t, Services, `{"id":9007199254740993,"upstream_id":"u"}`)
	if s.ID != int64(9007199254740993) {
		t.Fatalf("integer id lost precision: %#v", s.ID)
	}
	if s.UpstreamID != "u" {
		t.Fatalf("string id: %#v", s.UpstreamID)
	}
	s = mustValidate[Service](t, Services, `{"id":2.0}`)
	if s.ID != int64(2) {
		t.Fatalf("2.0 id: %#v", s.ID)
	}
	s = mustValidate[Service](t, Services, `{}`)
	if s.ID != nil || s.UpstreamID != nil {
		t.Fatalf("absent ids: %#v %#v", s.ID, s.UpstreamID)
	}
	for v, want := range map[any]string{
		"a": "a", int64(12): "12", 7: "7", json.Number("3"): "3", json.Number("1e3"): "1000", 2.5: "2.5", nil: "",
	} {
		if got := IDString(v); got != want {
			t.Errorf("IDString(%#v) = %q, want %q", v, got, want)
		}
	}
}
