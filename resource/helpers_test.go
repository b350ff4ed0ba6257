package resource

import (
	"errors"
	"testing"
)

// vcase is one Validate table entry: err "" means the value must pass.
type vcase struct {
	name string
	raw  string
	err  string
}

func runCases(t *testing.T, kind Kind, cases []vcase) {
	t.Helper()
	seen := map[string]bool{}
	for _, c := range cases {
		if seen[c.name] {
			t.Fatalf("duplicate case name %q", c.name)
		}
		seen[c.name] = true
		t.Run(c.name, func(t *testing.T) {
			v, err := Validate(kind, []byte(c.raw))
			if c.err == "" {
				if err != nil {
					t.Fatalf("Validate(%s, %s): unexpected error %q", kind, c.raw, err)
				}
				if v == nil {
					t.Fatalf("Validate(%s, %s): nil object", kind, c.raw)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate(%s, %s): accepted, want error %q", kind, c.raw, c.err)
			}
			if err.Error() != c.err {
				t.Fatalf("Validate(%s, %s):\n got %q\nwant %q", kind, c.raw, err.Error(), c.err)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error is %T, want *Error", err)
			}
		})
	}
}

func mustValidate[T any](t *testing.T, kind Kind, raw string) *T {
	t.Helper()
	v, err := Validate(kind, []byte(raw))
	if err != nil {
		t.Fatalf("Validate(%s, %s): %v", kind, raw, err)
	}
	out, ok := v.(*T)
	if !ok {
		t.Fatalf("Validate(%s) returned %T", kind, v)
	}
	return out
}

func repeat(s string, n int) string {
	b := make([]byte, 0, len(s)*n)
	for i := 0; i < n; i++ {
		b = append(b, s...)
	}
	return string(b)
}
