package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/portico-gw/portico/resource"
)

// entry is one stored item as the API returns it.
type entry struct {
	Key           string          `json:"key"`
	Value         json.RawMessage `json:"value"`
	CreatedIndex  int64           `json:"createdIndex"`
	ModifiedIndex int64           `json:"modifiedIndex"`
}

// written is the body of PUT, POST and PATCH answers.
type written struct {
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
}

// checkURLID validates an id taken from the URL. Beyond APISIX's pattern,
// "." and ".." are refused: an id is a path segment in etcd keys and in
// every tool that mirrors them to files.
func checkURLID(o *op) *result {
	if o.id == "" {
		return nil
	}
	if o.kind == resource.Secrets {
		manager, id, _ := strings.Cut(o.id, "/")
		if id == "" {
			return badRequest("missing secret id")
		}
		if manager != "vault" && manager != "aws" && manager != "gcp" {
			return badRequest("invalid secret manager: " + manager)
		}
		return checkIDSegment(id)
	}
	if o.kind == resource.PluginMetadata {
		return nil // a plugin name, checked against the registry
	}
	return checkIDSegment(o.id)
}

func checkIDSegment(id string) *result {
	if err := resource.ValidID(id); err != nil {
		return badRequest(err.Error())
	}
	if strings.Contains(id, "..") || id == "." {
		return badRequest(resource.ErrBadID + `: ".", ".." and ids containing ".." are not allowed`)
	}
	return nil
}

func (h *Handler) get(ctx context.Context, o *op) *result {
	if res := checkURLID(o); res != nil {
		return res
	}
	key := h.key(o, o.id)
	kv, res := h.fetch(ctx, key)
	if res != nil {
		return res
	}
	value, err := h.present(o.kind, kv.Value)
	if err != nil {
		return errResult(http.StatusInternalServerError, err.Error())
	}
	return &result{status: http.StatusOK, body: entry{Key: key, Value: value, CreatedIndex: kv.CreateRevision, ModifiedIndex: kv.ModRevision}}
}

// fetch reads one key: its pair, or the answer for a missing key or a
// failing etcd.
func (h *Handler) fetch(ctx context.Context, key string) (*mvccpb.KeyValue, *result) {
	resp, err := h.cfg.Client.Get(ctx, key)
	if err != nil {
		return nil, etcdError(err)
	}
	if len(resp.Kvs) == 0 {
		return nil, keyNotFound
	}
	return resp.Kvs[0], nil
}

// present turns a stored value into what GET returns: plugin fields
// decrypted, SSL private keys removed.
func (h *Handler) present(kind resource.Kind, stored []byte) (json.RawMessage, error) {
	if h.cfg.Keyring == nil && kind != resource.SSLs {
		return json.RawMessage(stored), nil // nothing to decrypt or hide
	}
	tree, err := resource.ParseJSON(stored)
	if err != nil {
		return json.RawMessage(stored), nil // not ours to fix; shown as stored
	}
	obj, ok := tree.(map[string]any)
	if !ok {
		return json.RawMessage(stored), nil
	}
	if kind == resource.SSLs {
		delete(obj, "key")
		delete(obj, "keys")
	}
	h.decryptPlugins(kind, obj)
	return encode(obj)
}

func (h *Handler) put(ctx context.Context, o *op) *result {
	if res := checkURLID(o); res != nil {
		return res
	}
	obj, res := h.decodeBody(o)
	if res != nil {
		return res
	}
	id, res := h.idFor(o, obj, http.MethodPut)
	if res != nil {
		return res
	}
	if res := h.checkWrite(ctx, o, id, obj, false); res != nil {
		return res
	}
	key := h.key(o, id)
	now := h.cfg.Now().Unix()
	prev, err := h.cfg.Client.Get(ctx, key)
	if err != nil {
		return etcdError(err)
	}
	createTime := any(now)
	if len(prev.Kvs) > 0 {
		var old struct {
			CreateTime json.RawMessage `json:"create_time"`
		}
		if json.Unmarshal(prev.Kvs[0].Value, &old) == nil && old.CreateTime != nil {
			createTime = json.Number(old.CreateTime)
		}
	}
	if o.kind != resource.PluginMetadata {
		obj["create_time"], obj["update_time"] = createTime, now
	}
	return h.store(ctx, o, key, obj, 0)
}

func (h *Handler) post(ctx context.Context, o *op) *result {
	if o.id != "" {
		return badRequest("wrong " + o.kind.Name() + " id, do not need it")
	}
	obj, res := h.decodeBody(o)
	if res != nil {
		return res
	}
	if _, res := h.idFor(o, obj, http.MethodPost); res != nil {
		return res
	}
	// Check with a placeholder id: the real one exists only once the
	// check passed, so a rejected POST never moves the revision.
	if res := h.checkWrite(ctx, o, "", obj, false); res != nil {
		return res
	}
	gen, err := h.cfg.Client.Put(ctx, h.cfg.Prefix+"/gen_id", "1")
	if err != nil {
		return etcdError(err)
	}
	id := fmt.Sprintf("%020d", gen.Header.Revision)
	obj["id"] = id
	now := h.cfg.Now().Unix()
	obj["create_time"], obj["update_time"] = now, now
	return h.store(ctx, o, h.key(o, id), obj, 0)
}

// store encrypts and writes obj under key (with the request's ttl), and
// answers as APISIX: 201 for a new key, 200 for a replaced one. When
// modRev > 0 the write is a compare-and-swap on it (PATCH).
func (h *Handler) store(ctx context.Context, o *op, key string, obj map[string]any, modRev int64) *result {
	var opts []clientv3.OpOption
	if ttl := o.query.Get("ttl"); ttl != "" {
		n, err := strconv.ParseFloat(ttl, 64)
		if err != nil || n <= 0 {
			return badRequest("invalid argument ttl: should be a number")
		}
		lease, err := h.cfg.Client.Grant(ctx, int64(n))
		if err != nil {
			return etcdError(err)
		}
		opts = append(opts, clientv3.WithLease(lease.ID))
	}
	h.encryptPlugins(o.kind, obj)
	h.encryptKeys(o.kind, obj)
	data, err := encode(obj)
	if err != nil {
		return errResult(http.StatusInternalServerError, err.Error())
	}
	status := http.StatusOK
	if modRev > 0 {
		txn, err := h.cfg.Client.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", modRev)).
			Then(clientv3.OpPut(key, string(data), opts...)).Commit()
		if err != nil {
			return etcdError(err)
		}
		if !txn.Succeeded {
			return errResult(http.StatusServiceUnavailable, "value changed before overwritten")
		}
	} else {
		resp, err := h.cfg.Client.Put(ctx, key, string(data), append(opts, clientv3.WithPrevKV())...)
		if err != nil {
			return etcdError(err)
		}
		if resp.PrevKv == nil {
			status = http.StatusCreated
		}
	}
	value, err := h.present(o.kind, data)
	if err != nil {
		return errResult(http.StatusInternalServerError, err.Error())
	}
	return &result{status: status, body: written{Key: key, Value: value}}
}

func (h *Handler) del(ctx context.Context, o *op) *result {
	if o.id == "" {
		return badRequest("missing " + o.kind.Name() + " id")
	}
	if res := checkURLID(o); res != nil {
		return res
	}
	if o.query.Get("force") != "true" {
		msg, res := h.inUse(ctx, o)
		if res != nil {
			return res
		}
		if msg != "" {
			return badRequest(msg)
		}
	}
	key := h.key(o, o.id)
	resp, err := h.cfg.Client.Delete(ctx, key)
	if err != nil {
		return etcdError(err)
	}
	if resp.Deleted == 0 {
		return keyNotFound
	}
	if o.kind == resource.Consumers {
		// A consumer's credentials go with it.
		if _, err := h.cfg.Client.Delete(ctx, key+"/credentials/", clientv3.WithPrefix()); err != nil {
			return etcdError(err)
		}
	}
	return &result{status: http.StatusOK, body: map[string]string{"deleted": "1", "key": key}}
}

// decodeBody parses a PUT/POST body into an object; a non-object value is
// returned as nil with no error so the schema reports its type.
func (h *Handler) decodeBody(o *op) (map[string]any, *result) {
	if len(bytes.TrimSpace(o.body)) == 0 {
		return nil, badRequest("missing configurations")
	}
	tree, err := resource.ParseJSON(o.body)
	if err != nil {
		return nil, invalidBody(err, o.body)
	}
	obj, ok := tree.(map[string]any)
	if !ok {
		_, verr := resource.Validate(o.kind, o.body)
		if verr == nil {
			verr = errors.New("invalid configuration: wrong type: expected object")
		}
		return nil, badRequest(verr.Error())
	}
	return obj, nil
}

// invalidBody is APISIX's answer to an undecodable body. The raw body is
// echoed as APISIX does; JSON encoding makes it safe to carry.
func invalidBody(err error, body []byte) *result {
	var re *resource.Error
	msg := err.Error()
	if errors.As(err, &re) {
		msg = re.Detail
	}
	return &result{status: http.StatusBadRequest, body: map[string]string{"error_msg": "invalid request body: " + msg, "req_body": strings.ToValidUTF8(string(body), "\uFFFD")}}
}

// idFor applies the id rules of PUT and POST (spec 3.4) and returns the id
// to store under. The URL id, when given, is written into obj as a string.
func (h *Handler) idFor(o *op, obj map[string]any, method string) (string, *result) {
	name := o.kind.Name()
	switch o.kind {
	case resource.Consumers:
		user, _ := obj["username"].(string)
		if o.id != "" && user != o.id {
			return "", badRequest("wrong username")
		}
		if method == http.MethodPost {
			return "", nil
		}
		return user, nil
	case resource.PluginMetadata:
		if o.id == "" {
			return "", badRequest("missing plugin name")
		}
		obj["id"] = o.id
		return o.id, nil
	}
	bodyID, hasBodyID := obj["id"]
	if method == http.MethodPost {
		if hasBodyID {
			return "", badRequest("wrong " + name + " id, do not need it")
		}
		return "", nil
	}
	switch {
	case o.id == "" && !hasBodyID:
		return "", badRequest("missing " + name + " id")
	case o.id == "":
		id := resource.IDString(bodyID)
		if o.kind == resource.Secrets {
			return "", badRequest("missing secret id")
		}
		if res := checkIDSegment(id); res != nil && id != "" {
			// A body id is checked by the schema, which also accepts an
			// integer; only a string needs the segment rules.
			if _, isStr := bodyID.(string); isStr {
				return "", res
			}
		}
		return id, nil
	case hasBodyID && resource.IDString(bodyID) != o.id:
		return "", badRequest("wrong " + name + " id")
	}
	obj["id"] = o.id // secrets: "<manager>/<id>", as APISIX stores it
	return o.id, nil
}

// encode renders a tree as compact JSON without HTML escaping (as cjson).
func encode(v any) (json.RawMessage, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// etcdError is APISIX's answer when etcd fails.
func etcdError(err error) *result {
	return errResult(http.StatusServiceUnavailable, err.Error())
}
