package conf

import (
	"fmt"
	"maps"
	"math"
	"net"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// decoder fills the typed Config from the merged document, strictly: every key must map
// to a field (or a `rest` field), every value must have the field's shape, and enums and
// ranges from the `conf` tag are checked. It never stops at the first problem; each one
// is recorded with its dotted path (see types.go for the tag language).
type decoder struct {
	errs *errs
}

type spec struct {
	kind    string
	enum    []string
	min     *float64
	max     *float64
	port    bool
	integer bool
}

func parseSpec(tag string) spec {
	var s spec
	for i, part := range strings.Split(tag, ",") {
		name, val, hasVal := strings.Cut(part, "=")
		switch {
		case name == "":
		case name == "enum":
			s.enum = strings.Split(val, "|")
		case name == "min" || name == "max":
			f, err := strconv.ParseFloat(val, 64)
			if err != nil {
				panic(fmt.Sprintf("conf: bad tag %q", tag))
			}
			if name == "min" {
				s.min = &f
			} else {
				s.max = &f
			}
		case name == "port":
			s.port = true
		case name == "int":
			s.integer = true
		case i == 0 && !hasVal:
			s.kind = name
		default:
			panic(fmt.Sprintf("conf: bad tag %q", tag))
		}
	}
	return s
}

var durationType = reflect.TypeFor[time.Duration]()

// decode stores v into rv. A nil v (absent or null) leaves rv untouched.
func (d *decoder) decode(v any, rv reflect.Value, p path, s spec) {
	if v == nil {
		return
	}
	if s.kind == "" && rv.Type() == durationType {
		s.kind = "duration"
	}
	switch s.kind {
	case "":
	case "duration":
		d.duration(v, rv, p, s)
		return
	case "seconds":
		d.seconds(v, rv, p, s)
		return
	case "size":
		if n, ok := d.size(v, p); ok {
			rv.SetInt(n)
		}
		return
	case "strlist":
		switch v.(type) {
		case string:
			v = []any{v}
		case []any, map[string]any:
		default:
			d.wrongType(p, "string or list of strings", v)
			return
		}
	case "listens":
		d.listens(v, rv, p)
		return
	case "scalarstr":
		d.scalarString(v, rv, p)
		return
	case "onoff":
		d.onOff(v, rv, p)
		return
	case "buffers":
		d.buffers(v, rv, p)
		return
	case "sizemap":
		d.sizeMap(v, rv, p)
		return
	case "ip":
		d.ip(v, rv, p)
		return
	default:
		panic("conf: unknown kind " + s.kind)
	}

	switch rv.Kind() {
	case reflect.Pointer:
		if rv.IsNil() {
			rv.Set(reflect.New(rv.Type().Elem()))
		}
		d.decode(v, rv.Elem(), p, s)
	case reflect.Struct:
		d.structure(v, rv, p)
	case reflect.Bool:
		b, ok := v.(bool)
		if !ok {
			d.wrongType(p, "boolean", v)
			return
		}
		rv.SetBool(b)
	case reflect.String:
		str, ok := v.(string)
		if !ok {
			d.wrongType(p, "string", v)
			return
		}
		if s.enum != nil && !slices.Contains(s.enum, str) {
			d.errs.add(p, "must be one of %s, got %q", strings.Join(s.enum, ", "), str)
			return
		}
		rv.SetString(str)
	case reflect.Int, reflect.Int64:
		n, ok := toInt(v)
		if !ok {
			d.wrongType(p, "integer", v)
			return
		}
		if !d.inRange(float64(n), p, s) {
			return
		}
		rv.SetInt(n)
	case reflect.Slice:
		d.list(v, rv, p)
	case reflect.Map:
		m, ok := asMap(v)
		if !ok {
			d.wrongType(p, "map", v)
			return
		}
		rv.Set(reflect.ValueOf(m))
	default:
		panic(fmt.Sprintf("conf: unsupported field type %s at %s", rv.Type(), p))
	}
}

// structure decodes a map into a struct, reporting every key that has no field.
func (d *decoder) structure(v any, rv reflect.Value, p path) {
	m, ok := asMap(v)
	if !ok {
		d.wrongType(p, "map", v)
		return
	}
	t := rv.Type()
	fields := map[string]int{}
	rest := -1
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		if f.Tag.Get("conf") == "rest" {
			rest = i
			continue
		}
		if name := f.Tag.Get("yaml"); name != "" && name != "-" {
			fields[name] = i
		}
	}
	for _, k := range sortedKeys(m) {
		if i, ok := fields[k]; ok {
			d.decode(m[k], rv.Field(i), p.key(k), parseSpec(t.Field(i).Tag.Get("conf")))
			continue
		}
		if rest >= 0 {
			d.restEntry(k, m[k], rv.Field(rest), p)
			continue
		}
		if hint := closest(k, sortedKeys(fields)); hint != "" {
			d.errs.add(p.key(k), "unknown key (did you mean %q?)", hint)
		} else {
			d.errs.add(p.key(k), "unknown key")
		}
	}
}

// restEntry keeps an unvalidated map (plugin_attr.<plugin>) in a map[string]map[string]any.
func (d *decoder) restEntry(k string, v any, rv reflect.Value, p path) {
	if v == nil {
		return
	}
	m, ok := asMap(v)
	if !ok {
		d.wrongType(p.key(k), "map", v)
		return
	}
	if rv.IsNil() {
		rv.Set(reflect.MakeMap(rv.Type()))
	}
	rv.SetMapIndex(reflect.ValueOf(k), reflect.ValueOf(m))
}

func (d *decoder) list(v any, rv reflect.Value, p path) {
	l, ok := asList(v)
	if !ok {
		d.wrongType(p, "list", v)
		return
	}
	out := reflect.MakeSlice(rv.Type(), len(l), len(l))
	for i, e := range l {
		if e == nil {
			d.errs.add(p.index(i), "must not be null")
			continue
		}
		d.decode(e, out.Index(i), p.index(i), spec{})
	}
	rv.Set(out)
}

// listens decodes apisix.node_listen: a port number, a list of port numbers, or a list of
// {ip, port} maps. Missing ip/port stay zero here; derive.go applies APISIX's defaults.
func (d *decoder) listens(v any, rv reflect.Value, p path) {
	if _, isNum := toInt(v); isNum {
		v = []any{v}
	}
	l, ok := asList(v)
	if !ok {
		d.wrongType(p, "port number or list of ports / {ip, port} maps", v)
		return
	}
	out := make([]Listen, len(l))
	for i, e := range l {
		ep := p.index(i)
		switch x := e.(type) {
		case map[string]any:
			if _, has := x["enable_http2"]; has {
				// APISIX 3.9 moved it to apisix.enable_http2 and dies on the old form.
				d.errs.add(ep.key("enable_http2"), "no longer supported per listener, use apisix.enable_http2")
				x = maps.Clone(x) // Merged must keep what the user wrote
				delete(x, "enable_http2")
			}
			d.structure(x, reflect.ValueOf(&out[i]).Elem(), ep)
		default:
			n, ok := toInt(e)
			if !ok {
				d.wrongType(ep, "port number or {ip, port} map", e)
				continue
			}
			if d.inRange(float64(n), ep, spec{port: true}) {
				out[i].Port = int(n)
			}
		}
	}
	rv.Set(reflect.ValueOf(out))
}

func (d *decoder) duration(v any, rv reflect.Value, p path, s spec) {
	var dur time.Duration
	switch x := v.(type) {
	case string:
		var err error
		if dur, err = ParseDuration(x); err != nil {
			d.errs.add(p, "%v", err)
			return
		}
	default:
		n, ok := toInt(v)
		if !ok || n < 0 || n > math.MaxInt64/int64(time.Second) {
			d.wrongType(p, `duration (e.g. "60s", "500ms", "1h30m", or whole seconds)`, v)
			return
		}
		dur = time.Duration(n) * time.Second
	}
	if d.inRange(dur.Seconds(), p, s) {
		rv.SetInt(int64(dur))
	}
}

// seconds reads a plain number of seconds (APISIX's etcd and plugin_attr timeouts).
func (d *decoder) seconds(v any, rv reflect.Value, p path, s spec) {
	f, ok := toFloat(v)
	if !ok || (s.integer && f != math.Trunc(f)) {
		want := "number of seconds"
		if s.integer {
			want = "integer number of seconds"
		}
		d.wrongType(p, want, v)
		return
	}
	if !d.inRange(f, p, s) {
		return
	}
	if f < 0 || f > float64(math.MaxInt64)/float64(time.Second) {
		d.errs.add(p, "out of range: %g seconds", f)
		return
	}
	rv.SetInt(int64(f * float64(time.Second)))
}

func (d *decoder) size(v any, p path) (int64, bool) {
	if str, ok := v.(string); ok {
		n, err := ParseSize(str)
		if err != nil {
			d.errs.add(p, "%v", err)
			return 0, false
		}
		return n, true
	}
	n, ok := toInt(v)
	if !ok || n < 0 {
		d.wrongType(p, `size (e.g. "10m", "8k", or bytes)`, v)
		return 0, false
	}
	return n, true
}

func (d *decoder) sizeMap(v any, rv reflect.Value, p path) {
	m, ok := asMap(v)
	if !ok {
		d.wrongType(p, "map of name: size", v)
		return
	}
	out := make(map[string]int64, len(m))
	for _, k := range sortedKeys(m) {
		if m[k] == nil {
			continue
		}
		if n, ok := d.size(m[k], p.key(k)); ok {
			out[k] = n
		}
	}
	rv.Set(reflect.ValueOf(out))
}

// scalarString keeps a string or a number as text (worker_processes "auto" or 4; admin
// keys and passwords that happen to be all digits).
func (d *decoder) scalarString(v any, rv reflect.Value, p path) {
	switch x := v.(type) {
	case string:
		rv.SetString(x)
	case int:
		rv.SetString(strconv.Itoa(x))
	case float64:
		rv.SetString(strconv.FormatFloat(x, 'f', -1, 64))
	default:
		d.wrongType(p, "string or number", v)
	}
}

func (d *decoder) onOff(v any, rv reflect.Value, p path) {
	switch v {
	case true, "on":
		rv.SetBool(true)
	case false, "off":
		rv.SetBool(false)
	default:
		d.wrongType(p, `"on" or "off"`, v)
	}
}

func (d *decoder) buffers(v any, rv reflect.Value, p path) {
	str, ok := v.(string)
	if !ok {
		d.wrongType(p, `"number size" (e.g. "4 8k")`, v)
		return
	}
	b, err := parseBuffers(str)
	if err != nil {
		d.errs.add(p, "%v", err)
		return
	}
	rv.Set(reflect.ValueOf(b))
}

// ip accepts an IPv4 or IPv6 address, the latter optionally in brackets, and stores it
// without brackets.
func (d *decoder) ip(v any, rv reflect.Value, p path) {
	str, ok := v.(string)
	if !ok {
		d.wrongType(p, "IP address string", v)
		return
	}
	bare := strings.TrimSuffix(strings.TrimPrefix(str, "["), "]")
	if net.ParseIP(bare) == nil {
		d.errs.add(p, "invalid IP address %q", str)
		return
	}
	rv.SetString(bare)
}

func (d *decoder) inRange(f float64, p path, s spec) bool {
	switch {
	case s.port && (f < 1 || f > 65535):
		d.errs.add(p, "port must be within 1..65535, got %g", f)
	case s.min != nil && f < *s.min:
		d.errs.add(p, "must be at least %g, got %g", *s.min, f)
	case s.max != nil && f > *s.max:
		d.errs.add(p, "must be at most %g, got %g", *s.max, f)
	default:
		return true
	}
	return false
}

func (d *decoder) wrongType(p path, want string, got any) {
	desc := describe(got)
	if isSecret(p) {
		desc = luaType(got) // never echo a key or password into an error (and a log)
	}
	d.errs.add(p, "expected %s, got %s", want, desc)
}

func isSecret(p path) bool {
	switch p.last() {
	case "key", "password", "admin_key":
		return true
	}
	return false
}

// toInt accepts integers and whole floats (Lua has one number type: 1.0 is an integer).
func toInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case float64:
		if x == math.Trunc(x) && x >= math.MinInt64 && x < math.MaxInt64 {
			return int64(x), true
		}
	}
	return 0, false
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

// asMap and asList treat an empty map and an empty list alike, as APISIX's validator does.
func asMap(v any) (map[string]any, bool) {
	switch x := v.(type) {
	case map[string]any:
		return x, true
	case []any:
		if len(x) == 0 {
			return map[string]any{}, true
		}
	}
	return nil, false
}

func asList(v any) ([]any, bool) {
	switch x := v.(type) {
	case []any:
		return x, true
	case map[string]any:
		if len(x) == 0 {
			return []any{}, true
		}
	}
	return nil, false
}

// closest suggests a known key close to an unknown one: one edit away for short keys,
// two for longer ones (a transposition counts as one edit).
func closest(k string, known []string) string {
	limit := 1
	if len(k) > 5 {
		limit = 2
	}
	best, bestDist := "", limit+1
	for _, c := range known {
		if dist := editDistance(k, c); dist < bestDist {
			best, bestDist = c, dist
		}
	}
	return best
}

// editDistance is the optimal-string-alignment distance (Levenshtein plus adjacent
// transpositions).
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
