package keyring

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

func obj(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestFieldsRoundTrip(t *testing.T) {
	const conf = `{
		"password": "bar",
		"count": 3,
		"auth": {"secret": "s1", "keys": ["a", 7, "b"], "headers": {"X-Token": "t", "X-Num": 1}},
		"backends": [{"token": "b1"}, "not an object", {"token": "b2", "other": "o"}, {"token": 5}],
		"deep": {"a": {"b": {"c": "d"}}},
		"untouched": "u"
	}`
	fields := []string{"password", "count", "auth.secret", "auth.keys", "auth.headers", "backends.token", "deep.a.b.c", "missing", "missing.x", "password.x"}
	k := mustNew(t, []string{k128}, true)
	c := obj(t, conf)
	k.EncryptFields(c, fields)

	enc := func(s string) string { return k.Encrypt(s) }
	want := obj(t, conf)
	want["password"] = enc("bar")
	auth := want["auth"].(map[string]any)
	auth["secret"] = enc("s1")
	auth["keys"] = []any{enc("a"), 7.0, enc("b")}
	auth["headers"].(map[string]any)["X-Token"] = enc("t")
	backends := want["backends"].([]any)
	backends[0].(map[string]any)["token"] = enc("b1")
	backends[2].(map[string]any)["token"] = enc("b2")
	want["deep"].(map[string]any)["a"].(map[string]any)["b"].(map[string]any)["c"] = enc("d")
	if !reflect.DeepEqual(c, want) {
		got, _ := json.Marshal(c)
		w, _ := json.Marshal(want)
		t.Fatalf("encrypted:\n%s\nwant\n%s", got, w)
	}

	if err := k.DecryptFields(c, fields); err != nil {
		t.Fatal(err)
	}
	if orig := obj(t, conf); !reflect.DeepEqual(c, orig) {
		t.Errorf("decrypted back to %v, want %v", c, orig)
	}
}

// What APISIX stored decrypts here (basic-auth and key-auth of t/node/data_encrypt.t).
func TestDecryptFieldsReadsAPISIXData(t *testing.T) {
	k := mustNew(t, []string{k128b, k128}, true)
	basic := obj(t, `{"username":"foo","password":"77+NmbYqNfN+oLm0aX5akg=="}`)
	if err := k.DecryptFields(basic, []string{"password"}); err != nil || basic["password"] != "bar" || basic["username"] != "foo" {
		t.Errorf("basic-auth: %v, %v", basic, err)
	}
}

// A value that does not decrypt stays as stored and is reported with its path
// (APISIX: "failed to decrypt the conf of plugin [basic-auth] key [password], err:
// decrypt failed", then the clear-text password keeps working).
func TestDecryptFieldsKeepsWhatDoesNotDecrypt(t *testing.T) {
	k := mustNew(t, []string{k128}, true)
	c := obj(t, `{"password":"bar","keys":["vU/ZHVJw7b0XscDJ1Fhtig==","plain!"],"h":{"b":"x!","a":"YmFy"}}`)
	err := k.DecryptFields(c, []string{"password", "keys", "h"})
	want := obj(t, `{"password":"bar","keys":["auth-two","plain!"],"h":{"b":"x!","a":"YmFy"}}`)
	if !reflect.DeepEqual(c, want) {
		t.Errorf("conf = %v, want %v", c, want)
	}
	if err == nil || err.Error() != "field h.a: decrypt failed\nfield h.b: base64 decode failed\nfield keys[1]: base64 decode failed\nfield password: decrypt failed" {
		t.Errorf("error:\n%v", err)
	}
	var fe *FieldError
	var de *DecryptError
	if !errors.As(err, &fe) || !errors.As(err, &de) {
		t.Errorf("error %T does not expose *FieldError and *DecryptError", err)
	}
}

// enable_encrypt_fields: false leaves plugin fields alone both ways.
func TestFieldsSwitchedOff(t *testing.T) {
	k := mustNew(t, []string{k128}, false)
	if k.EncryptsFields() {
		t.Error("EncryptsFields")
	}
	c := obj(t, `{"password":"bar"}`)
	k.EncryptFields(c, []string{"password"})
	if c["password"] != "bar" {
		t.Errorf("encrypted while switched off: %v", c)
	}
	c["password"] = "77+NmbYqNfN+oLm0aX5akg=="
	if err := k.DecryptFields(c, []string{"password"}); err != nil || c["password"] != "77+NmbYqNfN+oLm0aX5akg==" {
		t.Errorf("decrypted while switched off: %v, %v", c, err)
	}
}
