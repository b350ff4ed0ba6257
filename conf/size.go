package conf

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ParseSize parses nginx size syntax (ngx_parse_size): a non-negative integer with an
// optional k/K, m/M or g/G suffix (powers of 1024). A bare number is bytes: "512", "8k",
// "10m", "2g".
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("invalid size %q: empty", s)
	}
	mult := int64(1)
	switch t[len(t)-1] {
	case 'k', 'K':
		mult = 1 << 10
	case 'm', 'M':
		mult = 1 << 20
	case 'g', 'G':
		mult = 1 << 30
	}
	num := t
	if mult != 1 {
		num = t[:len(t)-1]
	}
	if num == "" || strings.IndexFunc(num, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return 0, fmt.Errorf("invalid size %q: want a number with an optional k, m or g suffix", s)
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return n * mult, nil
}

// parseBuffers parses nginx's "number size" pair, e.g. large_client_header_buffers "4 8k".
func parseBuffers(s string) (HeaderBuffers, error) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return HeaderBuffers{}, fmt.Errorf("invalid buffers %q: want \"number size\", e.g. \"4 8k\"", s)
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n < 1 {
		return HeaderBuffers{}, fmt.Errorf("invalid buffers %q: number must be a positive integer", s)
	}
	size, err := ParseSize(f[1])
	if err != nil {
		return HeaderBuffers{}, err
	}
	if size < 1 {
		return HeaderBuffers{}, fmt.Errorf("invalid buffers %q: size must be positive", s)
	}
	return HeaderBuffers{Number: n, Size: size}, nil
}
