package dns

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"strings"
)

// hostAddrs are the first IPv4 and IPv6 addresses a hosts file gives a name.
type hostAddrs struct{ v4, v6 netip.Addr }

// readHosts parses a hosts(5) file into lower-case names. A missing file is
// an empty one, as for the C library.
func readHosts(path string) (map[string]hostAddrs, error) {
	m := map[string]hostAddrs{}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read hosts file: %w", err)
	}
	for line := range strings.Lines(string(data)) {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		a, err := netip.ParseAddr(f[0])
		if err != nil {
			continue // as the C library does with a malformed line
		}
		a = a.Unmap()
		for _, name := range f[1:] {
			name = strings.ToLower(strings.TrimSuffix(name, "."))
			h := m[name]
			switch {
			case a.Is4() && !h.v4.IsValid():
				h.v4 = a
			case a.Is6() && !h.v6.IsValid():
				h.v6 = a
			}
			m[name] = h
		}
	}
	return m, nil
}
