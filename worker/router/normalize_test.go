package router

import (
	"errors"
	"math/rand"
	"net/url"
	"strings"
	"testing"
)

// guardRouter protects /admin/ with its own prefix route, as an auth
// plugin on `/admin/*` would. Every traversal spelling must either land on
// "admin" when it means /admin/..., or be refused.
func guardRouter(t testing.TB, mode Mode) *Router {
	return mustBuild(t, mode,
		rt("admin", "/admin/*"),
		rt("public", "/public/*"),
		rt("root", "/*"),
	)
}

func TestNormalizeTraversal(t *testing.T) {
	const bad = "<400>"
	cases := []struct{ raw, path, route string }{
		{"/admin/x", "/admin/x", "admin"},
		// dot segments, literal and encoded
		{"/public/../admin/x", "/admin/x", "admin"},
		{"/public/%2e%2e/admin/x", "/admin/x", "admin"},
		{"/public/%2E%2E/admin/x", "/admin/x", "admin"},
		{"/public/%2E%2e/admin/x", "/admin/x", "admin"},
		{"/public/.%2e/admin/x", "/admin/x", "admin"},
		{"/public/%2e./admin/x", "/admin/x", "admin"},
		{"/public/.%2E/admin/", "/admin/", "admin"},
		{"/public/x/../../admin/y", "/admin/y", "admin"},
		{"/admin/%2e%2e/public/x", "/public/x", "public"},
		// encoded slashes are separators once decoded
		{"/public/..%2fadmin/x", "/admin/x", "admin"},
		{"/public/..%2Fadmin/x", "/admin/x", "admin"},
		{"/public%2f..%2fadmin%2fx", "/admin/x", "admin"},
		{"/public/%2e%2e%2fadmin/x", "/admin/x", "admin"},
		{"/admin%2fx", "/admin/x", "admin"},
		{"/admin%2Fx", "/admin/x", "admin"},
		// merged slashes and single dots
		{"//admin/x", "/admin/x", "admin"},
		{"///admin///x", "/admin/x", "admin"},
		{"/./admin/x", "/admin/x", "admin"},
		{"/admin/./x", "/admin/x", "admin"},
		{"/public/./../admin/x", "/admin/x", "admin"},
		{"/%2fadmin/x", "/admin/x", "admin"},
		{"/%2e/admin/x", "/admin/x", "admin"},
		{"/public/%2e%2e//admin/x", "/admin/x", "admin"},
		// encoded ordinary bytes
		{"/%61dmin/x", "/admin/x", "admin"},
		{"/%61%64%6d%69%6e/x", "/admin/x", "admin"},
		{"/%41dmin/x", "/Admin/x", "root"},
		{"/ADMIN/x", "/ADMIN/x", "root"},
		// trailing dot segments
		{"/admin/x/..", "/admin/", "admin"},
		{"/admin/.", "/admin/", "admin"},
		{"/admin/x/.", "/admin/x/", "admin"},
		{"/admin/%2e", "/admin/", "admin"},
		{"/admin/..", "/", "root"},
		{"/admin/%2e%2e", "/", "root"},
		{"/public/..", "/", "root"},
		{"/admin", "/admin", "root"},
		// not dot segments
		{"/public/...", "/public/...", "public"},
		{"/public/..admin/x", "/public/..admin/x", "public"},
		{"/public/..;/admin/x", "/public/..;/admin/x", "public"},
		{"/public/.../admin", "/public/.../admin", "public"},
		{"/public/%2e%2e%5cadmin", "/public/..\\admin", "public"},
		// double encoding is decoded once only
		{"/public/%252e%252e/admin/x", "/public/%2e%2e/admin/x", "public"},
		{"/public/%252e%252e%252fadmin", "/public/%2e%2e%2fadmin", "public"},
		{"/%2561dmin/x", "/%61dmin/x", "root"},
		{"/public/%25", "/public/%", "public"},
		{"/public/%2541", "/public/%41", "public"},
		// above the root: refused, as nginx does
		{"/..", "", bad},
		{"/../admin/x", "", bad},
		{"/%2e%2e/admin/x", "", bad},
		{"/public/../../admin/x", "", bad},
		{"/public/%2e%2e%2f%2e%2e%2fadmin", "", bad},
		{"/a/b/../../../admin", "", bad},
		// NUL, raw or encoded
		{"/admin/x%00", "", bad},
		{"/admin%00/x", "", bad},
		{"/public/\x00/admin", "", bad},
		{"/public/%00/../admin", "", bad},
		// malformed escapes
		{"/public/%zz", "", bad},
		{"/public/%2", "", bad},
		{"/public/%", "", bad},
		{"/%g0", "", bad},
		{"/public/%2g", "", bad},
		{"/public/%%32e", "", bad},
		// not a path
		{"", "", bad},
		{"admin/x", "", bad},
		{"*", "", bad},
		{"%2fadmin/x", "", bad},
	}
	for _, mode := range allModes {
		r := guardRouter(t, mode)
		for _, c := range cases {
			got, err := Normalize(c.raw)
			if c.route == bad {
				if err == nil || !errors.Is(err, ErrBadPath) {
					t.Errorf("Normalize(%q) = %q, %v; want a bad-path error", c.raw, got, err)
				}
				continue
			}
			if err != nil || got != c.path {
				t.Errorf("Normalize(%q) = %q, %v; want %q", c.raw, got, err, c.path)
				continue
			}
			if id, _ := matchID(r, p(got)); id != c.route {
				t.Errorf("%s: %q -> %q matched %q, want %q", mode, c.raw, got, id, c.route)
			}
		}
	}
}

// A path already normalized is returned as is, and costs no allocation.
func TestNormalizeClean(t *testing.T) {
	for _, s := range []string{"/", "/a", "/a/", "/a/b.c", "/a/.b", "/a/b.", "/a/..b", "/a/b..", "/...", "/a b", "/ü"} {
		got, err := Normalize(s)
		if err != nil || got != s {
			t.Errorf("Normalize(%q) = %q, %v", s, got, err)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = Normalize("/api/v1/users/42") }); n != 0 {
		t.Errorf("clean path: %v allocs", n)
	}
}

// refNormalize decodes with net/url and resolves segments with a stack:
// an independent statement of the same rules.
func refNormalize(raw string) (string, bool) {
	if !strings.HasPrefix(raw, "/") {
		return "", false
	}
	dec, err := url.PathUnescape(raw)
	if err != nil || strings.IndexByte(dec, 0) >= 0 {
		return "", false
	}
	parts := strings.Split(dec[1:], "/")
	var stack []string
	trailing := false
	for i, s := range parts {
		last := i == len(parts)-1
		switch s {
		case "", ".":
			trailing = last
		case "..":
			if len(stack) == 0 {
				return "", false
			}
			stack = stack[:len(stack)-1]
			trailing = last
		default:
			stack = append(stack, s)
			trailing = false
		}
	}
	out := "/" + strings.Join(stack, "/")
	if trailing && len(stack) > 0 {
		out += "/"
	}
	return out, true
}

// Generated traversal spellings: Normalize agrees with the reference, and
// whenever the path an upstream would resolve is under /admin/, the router
// picks the admin route.
func TestNormalizeGenerated(t *testing.T) {
	pieces := []string{"admin", "public", "x", ".", "..", "%2e", "%2e%2e", "%2E%2e", ".%2e", "%2e.",
		"", "%2f", "%2F", "%61dmin", "%252e%252e", "..%2f", "%2e%2e%2f", "adm%69n", "%00", "%zz", "...", "a%2fb"}
	seps := []string{"/", "/", "/", "%2f", "%2F", "//"}
	rng := rand.New(rand.NewSource(1))
	r := guardRouter(t, HostURI)
	const n = 20000
	agreed, admin := 0, 0
	for i := 0; i < n; i++ {
		var b strings.Builder
		b.WriteString("/")
		for k := rng.Intn(6); k >= 0; k-- {
			b.WriteString(pieces[rng.Intn(len(pieces))])
			if k > 0 {
				b.WriteString(seps[rng.Intn(len(seps))])
			}
		}
		raw := b.String()
		got, err := Normalize(raw)
		want, ok := refNormalize(raw)
		if (err == nil) != ok || ok && got != want {
			t.Fatalf("Normalize(%q) = %q, %v; reference %q, %v", raw, got, err, want, ok)
		}
		if err != nil {
			continue
		}
		agreed++
		id, _ := matchID(r, p(got))
		if strings.HasPrefix(want, "/admin/") {
			admin++
			if id != "admin" {
				t.Fatalf("%q (upstream sees %q) matched %q, not admin", raw, want, id)
			}
		} else if id == "admin" {
			t.Fatalf("%q (upstream sees %q) matched admin", raw, want)
		}
	}
	if agreed < n/4 || admin < 100 {
		t.Fatalf("generator too weak: %d normalized, %d under /admin/", agreed, admin)
	}
}
