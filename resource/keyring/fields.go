package keyring

import (
	"errors"
	"slices"
	"strconv"
	"strings"
)

// FieldError is one plugin field that did not decrypt; its value was kept.
type FieldError struct {
	Path string // where the value is: "password", "auth.keys[1]", "headers.X-Token"
	Err  error  // a *DecryptError
}

func (e *FieldError) Error() string { return "field " + e.Path + ": " + e.Err.Error() }

func (e *FieldError) Unwrap() error { return e.Err }

// EncryptFields encrypts, in conf, the values of fields (a plugin schema's
// encrypt_fields: dotted paths) when enable_encrypt_fields is on. It is
// plugin.lua encrypt_conf for one plugin's configuration.
func (k *Keyring) EncryptFields(conf map[string]any, fields []string) {
	if !k.encryptFields {
		return
	}
	for _, f := range fields {
		walk(conf, f, "", func(_, s string) (string, bool) { return k.Encrypt(s), true })
	}
}

// DecryptFields decrypts, in conf, the values of fields when
// enable_encrypt_fields is on (plugin.lua decrypt_conf). A value that does not
// decrypt keeps its stored form, as in APISIX, where it may be a value written
// before encryption was turned on; the error joins one *FieldError per such
// value, for the caller to log.
func (k *Keyring) DecryptFields(conf map[string]any, fields []string) error {
	if !k.encryptFields {
		return nil
	}
	var failed []*FieldError
	for _, f := range fields {
		walk(conf, f, "", func(p, s string) (string, bool) {
			plain, err := k.Decrypt(s)
			if err != nil {
				failed = append(failed, &FieldError{Path: p, Err: err})
				return "", false
			}
			return plain, true
		})
	}
	// Objects are walked in random order; sorted, the same data gives the same error.
	slices.SortFunc(failed, func(a, b *FieldError) int { return strings.Compare(a.Path, b.Path) })
	errs := make([]error, len(failed))
	for i, e := range failed {
		errs[i] = e
	}
	return errors.Join(errs...)
}

// walk applies op to the strings at the dotted field path under conf
// (process_encrypt_field): arrays met before the last segment are walked
// element by element; at the last segment a string is replaced, and so is
// every string in an array or object. op returns false to keep a value. at is
// the path walked so far, for errors.
func walk(conf map[string]any, field, at string, op func(path, s string) (string, bool)) {
	seg, rest, nested := strings.Cut(field, ".")
	v, ok := conf[seg]
	if !ok {
		return
	}
	at = join(at, seg)
	if nested {
		switch v := v.(type) {
		case map[string]any:
			walk(v, rest, at, op)
		case []any:
			for i, item := range v {
				if m, ok := item.(map[string]any); ok {
					walk(m, rest, at+"["+strconv.Itoa(i)+"]", op)
				}
			}
		}
		return
	}
	switch v := v.(type) {
	case string:
		if s, ok := op(at, v); ok {
			conf[seg] = s
		}
	case []any:
		for i, item := range v {
			if str, isStr := item.(string); isStr {
				if s, ok := op(at+"["+strconv.Itoa(i)+"]", str); ok {
					v[i] = s
				}
			}
		}
	case map[string]any:
		for name, item := range v {
			if str, isStr := item.(string); isStr {
				if s, ok := op(join(at, name), str); ok {
					v[name] = s
				}
			}
		}
	}
}

func join(at, seg string) string {
	if at == "" {
		return seg
	}
	return at + "." + seg
}
