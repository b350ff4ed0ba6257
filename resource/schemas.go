package resource

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

//go:embed schema/*.json
var schemaFiles embed.FS

// schemaBase prefixes the URL under which each bundled document is compiled.
const schemaBase = "mem://portico/resource/"

// compiledSchema is one self-contained (bundled) schema document and its
// compiled validator.
type compiledSchema struct {
	url  string         // compile URL, no fragment
	doc  map[string]any // bundled document; read-only after init
	json []byte         // doc marshalled, served by Schema
	sch  *jsonschema.Schema
}

var (
	// kindSchemas holds the schema of each Kind.
	kindSchemas = map[Kind]*compiledSchema{}
	// secretSchemas holds the schema of each secret manager.
	secretSchemas = map[string]*compiledSchema{}
	// hashKeySchemas holds the chash key schemas by hash_on value.
	hashKeySchemas = map[string]*compiledSchema{}
)

func init() {
	if err := loadSchemas(); err != nil {
		panic("resource: " + err.Error())
	}
}

// loadSchemas reads schema/*.json, inlines every $ref (so each served
// document stands alone and error locations never cross documents) and
// compiles the results once.
func loadSchemas() error {
	files := map[string]any{}
	err := fs.WalkDir(schemaFiles, "schema", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := schemaFiles.ReadFile(p)
		if err != nil {
			return err
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var doc any
		if err := dec.Decode(&doc); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		files[path.Base(p)] = doc
		return nil
	})
	if err != nil {
		return err
	}

	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	c.AssertFormat()
	var pending []*compiledSchema
	add := func(name string, node any) (*compiledSchema, error) {
		b, err := bundle(files, name, node, 0)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		doc, ok := b.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: not an object", name)
		}
		cs := &compiledSchema{url: schemaBase + name, doc: doc}
		if cs.json, err = json.Marshal(doc); err != nil {
			return nil, err
		}
		if err := c.AddResource(cs.url, doc); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		pending = append(pending, cs)
		return cs, nil
	}

	for k, info := range kindInfos {
		cs, err := add(info.file, files[info.file])
		if err != nil {
			return err
		}
		kindSchemas[k] = cs
	}
	for _, m := range []string{"vault", "aws", "gcp"} {
		name := "secret_" + m + ".json"
		cs, err := add(name, files[name])
		if err != nil {
			return err
		}
		secretSchemas[m] = cs
	}
	defs, _ := files["defs.json"].(map[string]any)["definitions"].(map[string]any)
	for hashOn, def := range map[string]string{
		"vars": "upstream_hash_vars", "header": "upstream_hash_header",
		"cookie": "upstream_hash_header", "vars_combinations": "upstream_hash_vars_combinations",
	} {
		cs, err := add("hash_key_"+hashOn+".json", defs[def])
		if err != nil {
			return err
		}
		hashKeySchemas[hashOn] = cs
	}

	for _, cs := range pending {
		if cs.sch, err = c.Compile(cs.url); err != nil {
			return err
		}
	}
	return nil
}

// bundle returns a deep copy of node with every {"$ref": "file#/pointer"}
// replaced by a bundled copy of its target; keys beside "$ref" are laid
// over the copy. file names the document node belongs to (for local refs).
func bundle(files map[string]any, file string, node any, depth int) (any, error) {
	if depth > 32 {
		return nil, fmt.Errorf("$ref nesting too deep (cycle?)")
	}
	switch n := node.(type) {
	case map[string]any:
		out := make(map[string]any, len(n))
		if ref, ok := n["$ref"].(string); ok {
			target, tfile, err := resolveRef(files, file, ref)
			if err != nil {
				return nil, err
			}
			b, err := bundle(files, tfile, target, depth+1)
			if err != nil {
				return nil, err
			}
			bm, ok := b.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("$ref %s: target is not an object", ref)
			}
			for k, v := range bm {
				if k != "$schema" && k != "$comment" {
					out[k] = v
				}
			}
		}
		for k, v := range n {
			if k == "$ref" {
				continue
			}
			b, err := bundle(files, file, v, depth)
			if err != nil {
				return nil, err
			}
			out[k] = b
		}
		return out, nil
	case []any:
		out := make([]any, len(n))
		for i, v := range n {
			b, err := bundle(files, file, v, depth)
			if err != nil {
				return nil, err
			}
			out[i] = b
		}
		return out, nil
	}
	return node, nil
}

func resolveRef(files map[string]any, file, ref string) (any, string, error) {
	tfile, frag, _ := strings.Cut(ref, "#")
	if tfile == "" {
		tfile = file
	}
	doc, ok := files[tfile]
	if !ok {
		return nil, "", fmt.Errorf("$ref %s: unknown document", ref)
	}
	node, ok := lookupPointer(doc, splitPointer(frag))
	if !ok {
		return nil, "", fmt.Errorf("$ref %s: not found", ref)
	}
	return node, tfile, nil
}

// splitPointer splits a JSON pointer ("/a/b~1c") into unescaped tokens.
func splitPointer(p string) []string {
	if p == "" || p == "/" {
		return nil
	}
	toks := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i, t := range toks {
		t = strings.ReplaceAll(t, "~1", "/")
		toks[i] = strings.ReplaceAll(t, "~0", "~")
	}
	return toks
}

func lookupPointer(node any, toks []string) (any, bool) {
	for _, t := range toks {
		switch n := node.(type) {
		case map[string]any:
			v, ok := n[t]
			if !ok {
				return nil, false
			}
			node = v
		case []any:
			i, err := strconv.Atoi(t)
			if err != nil || i < 0 || i >= len(n) {
				return nil, false
			}
			node = n[i]
		default:
			return nil, false
		}
	}
	return node, true
}

// Schema returns the JSON schema document of kind (self-contained, draft-07),
// as served by GET /apisix/admin/schema/<kind.SchemaName()>. It returns nil
// for an unknown kind. The caller owns the returned slice.
func Schema(kind Kind) []byte {
	cs, ok := kindSchemas[kind]
	if !ok {
		return nil
	}
	return bytes.Clone(cs.json)
}

// SecretSchema returns the schema of one secret manager (vault, aws, gcp),
// or nil.
func SecretSchema(manager string) []byte {
	cs, ok := secretSchemas[manager]
	if !ok {
		return nil
	}
	return bytes.Clone(cs.json)
}
