package conf

import (
	"strings"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  bool
	}{
		{in: "0", want: 0},
		{in: "512", want: 512},
		{in: "8k", want: 8 << 10},
		{in: "8K", want: 8 << 10},
		{in: "10m", want: 10 << 20},
		{in: "100M", want: 100 << 20},
		{in: "2g", want: 2 << 30},
		{in: " 1m ", want: 1 << 20},
		{in: "", err: true},
		{in: "m", err: true},
		{in: "-1", err: true},
		{in: "1.5m", err: true},
		{in: "10t", err: true},
		{in: "1 m", err: true},
		{in: "99999999999999g", err: true},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, err %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  string
	}{
		{in: "240s", want: 240 * time.Second},
		{in: "1m", want: time.Minute},
		{in: "500ms", want: 500 * time.Millisecond},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "1h 30m", want: 90 * time.Minute},
		{in: "1d12h", want: 36 * time.Hour},
		{in: "2w", want: 14 * 24 * time.Hour},
		{in: "1M", want: 30 * 24 * time.Hour},
		{in: "1y", want: 365 * 24 * time.Hour},
		{in: "30", want: 30 * time.Second},
		{in: "1m30", want: 90 * time.Second},
		{in: "1s500ms", want: 1500 * time.Millisecond},
		{in: "0", want: 0},
		{in: "", err: "empty"},
		{in: "s", err: "want e.g."},
		{in: "10x", err: "unknown unit"},
		{in: "30m1h", err: "units must decrease"},
		{in: "1m1m", err: "units must decrease"},
		{in: "1 30s", err: "without a unit must come last"},
		{in: "-5s", err: "want e.g."},
		{in: "1.5s", err: "unknown unit"},
		{in: "999999999999y", err: "too large"},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseDuration(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestListenString(t *testing.T) {
	tests := []struct {
		l    Listen
		want string
	}{
		{Listen{"127.0.0.1", 9080}, "127.0.0.1:9080"},
		{Listen{"::", 9080}, "[::]:9080"},
		{Listen{"fe80::1", 443}, "[fe80::1]:443"},
	}
	for _, tt := range tests {
		if got := tt.l.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.l, got, tt.want)
		}
	}
}
