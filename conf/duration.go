package conf

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// nginxUnits are ngx_parse_time's units, largest first. nginx requires each component
// to use a smaller unit than the one before ("1h30m", never "30m1h").
var nginxUnits = []struct {
	name string
	d    time.Duration
}{
	{"y", 365 * 24 * time.Hour},
	{"M", 30 * 24 * time.Hour},
	{"w", 7 * 24 * time.Hour},
	{"d", 24 * time.Hour},
	{"h", time.Hour},
	{"m", time.Minute},
	{"s", time.Second},
	{"ms", time.Millisecond},
}

// ParseDuration parses nginx time syntax: components such as "1h30m", "240s", "500ms",
// "1d 12h" with units y M w d h m s ms in decreasing order, optionally separated by spaces.
// A trailing number without a unit is seconds, so a bare "30" is 30s.
func ParseDuration(s string) (time.Duration, error) {
	rest := strings.TrimSpace(s)
	if rest == "" {
		return 0, fmt.Errorf("invalid duration %q: empty", s)
	}
	var total time.Duration
	last := -1 // index into nginxUnits of the previous component's unit
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("invalid duration %q: want e.g. \"60s\", \"1m\", \"500ms\", \"1h30m\"", s)
		}
		var n int64
		for _, c := range rest[:i] {
			if n > (math.MaxInt64-9)/10 {
				return 0, fmt.Errorf("invalid duration %q: too large", s)
			}
			n = n*10 + int64(c-'0')
		}
		rest = rest[i:]
		unit := len(nginxUnits) - 2 // seconds, for a trailing bare number
		if rest != "" && rest[0] != ' ' {
			unit = -1
			for u, nu := range nginxUnits {
				if strings.HasPrefix(rest, nu.name) && (nu.name != "m" || !strings.HasPrefix(rest, "ms")) {
					unit = u
				}
			}
			if unit < 0 {
				return 0, fmt.Errorf("invalid duration %q: unknown unit at %q (use y M w d h m s ms)", s, rest)
			}
			rest = rest[len(nginxUnits[unit].name):]
		} else if strings.TrimSpace(rest) != "" {
			return 0, fmt.Errorf("invalid duration %q: a number without a unit must come last", s)
		}
		if unit <= last {
			return 0, fmt.Errorf("invalid duration %q: units must decrease (y M w d h m s ms)", s)
		}
		last = unit
		d := nginxUnits[unit].d
		if n > int64(math.MaxInt64/d) || total > math.MaxInt64-time.Duration(n)*d {
			return 0, fmt.Errorf("invalid duration %q: too large", s)
		}
		total += time.Duration(n) * d
		rest = strings.TrimLeft(rest, " ")
	}
	return total, nil
}
