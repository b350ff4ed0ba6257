package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/portico-gw/portico/resource"
)

// listFilter is the v3 list query (spec 3.4).
type listFilter struct {
	name, uri *regexp.Regexp
	label     string
	fields    url.Values // filter=k=v&... (service_id, upstream_id)
}

// filterFields are the fields `filter` may name, per kind; others are
// ignored as APISIX does.
var filterFields = map[resource.Kind][]string{
	resource.Routes:       {"service_id", "upstream_id"},
	resource.StreamRoutes: {"service_id", "upstream_id"},
}

func (h *Handler) list(ctx context.Context, o *op) *result {
	var f listFilter
	if h.cfg.APIVersion == "v3" {
		var err error
		if s := o.query.Get("name"); s != "" {
			if f.name, err = regexp.Compile(s); err != nil {
				return badRequest("invalid argument name: " + err.Error())
			}
		}
		if s := o.query.Get("uri"); s != "" {
			if f.uri, err = regexp.Compile(s); err != nil {
				return badRequest("invalid argument uri: " + err.Error())
			}
		}
		f.label = o.query.Get("label")
		if s := o.query.Get("filter"); s != "" {
			if f.fields, err = url.ParseQuery(s); err != nil {
				return badRequest("invalid argument filter: " + err.Error())
			}
		}
	}
	page, pageSize, paged := 0, 0, false
	if p, err1 := strconv.Atoi(o.query.Get("page")); err1 == nil {
		if ps, err2 := strconv.Atoi(o.query.Get("page_size")); err2 == nil {
			paged, page, pageSize = true, max(p, 1), ps
			if ps < 10 || ps > 500 {
				return &result{status: http.StatusBadRequest, text: "page_size must be between 10 and 500"}
			}
		}
	}

	dir := h.cfg.Prefix + "/" + o.dir() + "/"
	resp, err := h.cfg.Client.Get(ctx, dir, clientv3.WithPrefix())
	if err != nil {
		return etcdError(err)
	}
	items := []entry{}
	for _, kv := range resp.Kvs {
		id := strings.TrimPrefix(string(kv.Key), dir)
		if id == "" || o.kind == resource.Consumers && strings.Contains(id, "/") {
			continue // the directory's init_dir marker; credentials
		}
		value, err := h.present(o.kind, kv.Value)
		if err != nil || !json.Valid(value) || value[0] != '{' {
			continue
		}
		if !f.match(o.kind, value) {
			continue
		}
		items = append(items, entry{Key: string(kv.Key), Value: value, CreatedIndex: kv.CreateRevision, ModifiedIndex: kv.ModRevision})
	}
	total := len(items)
	if paged {
		slices.SortStableFunc(items, func(a, b entry) int { return int(a.CreatedIndex - b.CreatedIndex) })
		start := min((page-1)*pageSize, len(items))
		items = items[start:min(start+pageSize, len(items))]
	}
	return &result{status: http.StatusOK, body: struct {
		List  []entry `json:"list"`
		Total int     `json:"total"`
	}{items, total}}
}

func (f *listFilter) match(kind resource.Kind, value []byte) bool {
	if f.name == nil && f.uri == nil && f.label == "" && f.fields == nil {
		return true
	}
	var v struct {
		Name   *string           `json:"name"`
		URI    *string           `json:"uri"`
		URIs   []string          `json:"uris"`
		Labels map[string]string `json:"labels"`
	}
	if json.Unmarshal(value, &v) != nil {
		return false
	}
	if f.name != nil && (v.Name == nil || !f.name.MatchString(*v.Name)) {
		return false
	}
	if f.label != "" {
		if _, ok := v.Labels[f.label]; !ok {
			return false
		}
	}
	if f.uri != nil {
		ok := v.URI != nil && f.uri.MatchString(*v.URI)
		for _, u := range v.URIs {
			ok = ok || f.uri.MatchString(u)
		}
		if !ok {
			return false
		}
	}
	if f.fields != nil {
		var all map[string]any
		if json.Unmarshal(value, &all) != nil {
			return false
		}
		for _, field := range filterFields[kind] {
			want, ok := f.fields[field]
			if !ok {
				continue
			}
			if got := all[field]; got == nil || resource.IDString(normalizeNumber(got)) != want[0] {
				return false
			}
		}
	}
	return true
}
