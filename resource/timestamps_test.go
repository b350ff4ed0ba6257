package resource

import "testing"

func TestCheckNoTimestamps(t *testing.T) {
	for raw, want := range map[string]string{
		`{"uri":"/a"}`:                                   "",
		`{"uri":"/a","create_time":1}`:                   "the property is forbidden:  create_time",
		`{"uri":"/a","update_time":null}`:                "the property is forbidden:  update_time",
		`{"uri":"/a","create_time":false}`:               "",
		`{"upstream":{"update_time":1}}`:                 "the property is forbidden:  upstream.update_time",
		`{"plugins":{"create_time":{}}}`:                 "the property is forbidden:  plugins.create_time",
		`{"create_time":1,"upstream":{"create_time":1}}`: "the property is forbidden:  create_time",
		`[1]`:              "",
		`{"upstream":"x"}`: "",
	} {
		err := CheckNoTimestamps([]byte(raw))
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("CheckNoTimestamps(%s) = %q, want %q", raw, got, want)
		}
	}
}
