package worker

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestRequestVars(t *testing.T) {
	r := httptest.NewRequest("GET", "http://Gw.Test:9080/p/a?env=bench&x=1&env=second&sp=a+b&enc%20k=v%2F1&empty=", nil)
	r.Header.Set("X-Team", "core")
	r.Header.Add("X-Multi", "a")
	r.Header.Add("X-Multi", "b")
	r.AddCookie(&http.Cookie{Name: "sid", Value: "abc"})
	r.RemoteAddr = "10.1.2.3:5555"
	v := &reqVars{r: r, params: map[string]string{"id": "7"}}
	for name, want := range map[string]string{
		"arg_env": "bench", "arg_sp": "a b", "arg_enc k": "v/1", "arg_empty": "",
		"http_x_team": "core", "http_x_multi": "a, b", "cookie_sid": "abc",
		"remote_addr": "10.1.2.3", "host": "gw.test", "uri": "/p/a", "request_method": "GET",
		"uri_param_id": "7",
	} {
		got, ok := v.get(name)
		if !ok || got != want {
			t.Errorf("%s = %q, %v; want %q", name, got, ok, want)
		}
	}
	for _, name := range []string{"arg_nope", "http_x_nope", "cookie_nope", "uri_param_nope", "no_such_var"} {
		if got, ok := v.get(name); ok {
			t.Errorf("%s = %q, want absent", name, got)
		}
	}
	if n := testing.AllocsPerRun(100, func() {
		v.get("arg_x")
		v.get("http_x_team")
	}); n != 0 {
		t.Errorf("%v allocs per arg/header lookup, want 0", n)
	}
}
