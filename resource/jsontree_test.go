package resource

import (
	"errors"
	"strings"
	"testing"
)

func TestHostileInput(t *testing.T) {
	deep := func(n int) string { return strings.Repeat(`{"a":`, n-1) + `{}` + strings.Repeat(`}`, n-1) }
	deepArr := func(n int) string {
		return `{"uri":"/a","upstream_id":1,"vars":` + strings.Repeat(`[`, n-1) + strings.Repeat(`]`, n-1) + `}`
	}
	cases := []struct {
		name, raw, err string
		reason         Reason
		path           string
	}{
		{"empty", ``, "invalid JSON: unexpected end of JSON input", ReasonJSON, ""},
		{"whitespace", "  \n", "invalid JSON: unexpected end of JSON input", ReasonJSON, ""},
		{"garbage", `abc`, "invalid JSON: invalid character 'a' looking for beginning of value at offset 1", ReasonJSON, ""},
		{"unterminated", `{"uri":"/a"`, "invalid JSON: unexpected end of JSON input", ReasonJSON, ""},
		{"trailing comma", `{"uri":"/a",}`, "invalid JSON: invalid character '}' looking for beginning of object key string at offset 13", ReasonJSON, ""},
		{"trailing data", `{"uri":"/a"} {}`, "invalid JSON: unexpected data after the top-level value at offset 13", ReasonJSON, ""},
		{"trailing garbage", `{"uri":"/a"}x`, "invalid JSON: unexpected data after the top-level value at offset 12", ReasonJSON, ""},
		{"bad literal", `{"uri":tru}`, "invalid JSON: invalid character '}' in literal true (expecting 'e') at offset 11", ReasonJSON, ""},
		{"duplicate top-level key", `{"uri":"/a","uri":"/b","upstream_id":1}`, `invalid JSON: duplicate key "uri" in object "/"`, ReasonJSON, "/uri"},
		{"duplicate escaped key", `{"uri":"/a","u\u0072i":"/b","upstream_id":1}`, `invalid JSON: duplicate key "uri" in object "/"`, ReasonJSON, "/uri"},
		{"duplicate nested key", `{"uri":"/a","upstream":{"nodes":{"a:1":1,"a:1":0}}}`, `invalid JSON: duplicate key "a:1" in object "/upstream/nodes"`, ReasonJSON, "/upstream/nodes/a:1"},
		{"duplicate key in array item", `{"uri":"/a","upstream":{"nodes":[{"host":"a","weight":1},{"host":"b","host":"c","weight":1}]}}`, `invalid JSON: duplicate key "host" in object "/upstream/nodes/1"`, ReasonJSON, "/upstream/nodes/1/host"},
		{"duplicate key in plugin conf", `{"uri":"/a","plugins":{"key-auth":{"key":"a","key":"b"}}}`, `invalid JSON: duplicate key "key" in object "/plugins/key-auth"`, ReasonJSON, "/plugins/key-auth/key"},
		{"depth 65 objects", deep(65), "invalid JSON: nesting deeper than 64 levels", ReasonJSON, strings.TrimSuffix(strings.Repeat("/a", 64), "/a")},
		{"depth 65 arrays", deepArr(65), "invalid JSON: nesting deeper than 64 levels", ReasonJSON, "/vars" + strings.Repeat("/0", 62)},
		{"array value", `[{"uri":"/a"}]`, "invalid configuration: wrong type: expected object, got table", ReasonSchema, ""},
		{"empty array value", `[]`, "invalid configuration: wrong type: expected object, got table", ReasonSchema, ""},
		{"string value", `"x"`, "invalid configuration: wrong type: expected object, got string", ReasonSchema, ""},
		{"number value", `1`, "invalid configuration: wrong type: expected object, got number", ReasonSchema, ""},
		{"bool value", `true`, "invalid configuration: wrong type: expected object, got boolean", ReasonSchema, ""},
		{"null value", `null`, "invalid configuration: wrong type: expected object, got userdata", ReasonSchema, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Validate(Routes, []byte(c.raw))
			if err == nil {
				t.Fatalf("accepted %s", c.raw)
			}
			if err.Error() != c.err {
				t.Fatalf("got  %q\nwant %q", err.Error(), c.err)
			}
			var e *Error
			if !errors.As(err, &e) || e.Reason != c.reason || e.Path != c.path {
				t.Fatalf("error %#v: want reason %d path %q", err, c.reason, c.path)
			}
		})
	}
}

func TestDepthLimitBoundary(t *testing.T) {
	// 64 levels are fine: the route object, vars and 62 nested arrays.
	raw := `{"uri":"/a","upstream_id":1,"plugins":{"p":` + strings.Repeat(`{"a":`, 61) + `{}` + strings.Repeat(`}`, 61) + `}}`
	if _, err := Validate(Routes, []byte(raw)); err != nil {
		t.Fatalf("depth 64 rejected: %v", err)
	}
	raw = `{"uri":"/a","upstream_id":1,"plugins":{"p":` + strings.Repeat(`{"a":`, 62) + `{}` + strings.Repeat(`}`, 62) + `}}`
	if _, err := Validate(Routes, []byte(raw)); err == nil || !strings.Contains(err.Error(), "nesting deeper than 64") {
		t.Fatalf("depth 65 accepted: %v", err)
	}
	// Far deeper input fails fast, without recursion.
	huge := strings.Repeat(`[`, 1<<20)
	if _, err := Validate(Routes, []byte(huge)); err == nil {
		t.Fatal("huge nesting accepted")
	}
}

func TestParseTreeValues(t *testing.T) {
	v, err := parseTree([]byte(`{"a":[1,"x",true,null,{"b":1.5e3}],"c":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	m := v.(map[string]any)
	arr := m["a"].([]any)
	if len(arr) != 5 || arr[0].(interface{ String() string }).String() != "1" || arr[1] != "x" || arr[2] != true || arr[3] != nil {
		t.Fatalf("%#v", arr)
	}
	if len(m["c"].(map[string]any)) != 0 {
		t.Fatalf("%#v", m["c"])
	}
}
