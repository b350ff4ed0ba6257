package conf

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"gopkg.in/yaml.v3"
)

// historicalAdminKey is the Admin API key APISIX shipped in its default config until
// 3.x. Validate refuses it wherever it appears.
const historicalAdminKey = "edd1c9f034335f136f87ad84b625c8f1"

// GeneratedAdminKeys says where GenerateAdminKeys put new keys. It never holds a key.
type GeneratedAdminKeys struct {
	File  string   // absolute path of the config file that holds the keys now
	Paths []string // the key paths filled, e.g. "deployment.admin.admin_key[0].key"
}

// missingAdminKeys returns the indexes of the admin_key entries GenerateAdminKeys fills:
// role admin with an empty key, while the Admin API is on and requires keys. Viewer
// entries never qualify (Validate refuses an empty viewer key), as in APISIX.
func (c *Config) missingAdminKeys() []int {
	a := c.Deployment.Admin
	if !c.APISIX.EnableAdmin || !a.AdminKeyRequired {
		return nil
	}
	var idx []int
	for i, k := range a.AdminKey {
		if k.Role == "admin" && k.Key == "" {
			idx = append(idx, i)
		}
	}
	return idx
}

// GenerateAdminKeys gives every role admin entry of deployment.admin.admin_key whose key
// is empty a random key (32 hex digits from crypto/rand), writes it into the user
// config file, and returns the Config loaded again from that file. With nothing to
// fill it returns c and nil. c must come from Load: the file is c.File, or
// <prefix>/conf/config.yaml when there was none (then it is created).
//
// The file is edited as a YAML node tree, so comments, other keys and quoting survive
// (blank lines and the alignment of trailing comments do not). When the file does not
// define deployment.admin.admin_key, the merged list is written there, generated keys
// included. A key that is empty because ${{VAR}} substituted to "" is an error: the
// variable reference is the operator's and is not overwritten. The file is replaced
// atomically (a symlink is followed), keeps its owner and gets mode 0600, since it
// now holds a secret. Running it again finds the keys and does nothing.
func GenerateAdminKeys(c *Config) (*Config, *GeneratedAdminKeys, error) {
	idx := c.missingAdminKeys()
	if len(idx) == 0 {
		return c, nil, nil
	}
	file := c.File
	if file == "" {
		file = filepath.Join(c.Prefix, "conf", "config.yaml")
	}
	target, err := filepath.EvalSymlinks(file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		target = file
	case err != nil:
		return nil, nil, fmt.Errorf("generate admin key: %w", err)
	}
	data, err := os.ReadFile(target)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("generate admin key: %w", err)
	}

	keys := make(map[int]string, len(idx))
	gen := &GeneratedAdminKeys{File: file}
	for _, i := range idx {
		keys[i] = randomAdminKey()
		gen.Paths = append(gen.Paths, string(path("deployment.admin.admin_key").index(i).key("key")))
	}
	e := &errs{file: displayName(c.Prefix, file)}
	out := setAdminKeys(data, c.Deployment.Admin.AdminKey, keys, e)
	if err := e.err(); err != nil {
		return nil, nil, err
	}
	if err := replaceFile(target, out); err != nil {
		return nil, nil, fmt.Errorf("generate admin key: %w", err)
	}

	// Reading the file back proves the edit says what was meant.
	reloaded, err := Load(c.Prefix, file)
	if err != nil {
		return nil, nil, fmt.Errorf("config file after writing the generated admin key: %w", err)
	}
	got := reloaded.Deployment.Admin.AdminKey
	for i, k := range keys {
		if i >= len(got) || got[i].Key != k {
			return nil, nil, fmt.Errorf("%s: deployment.admin.admin_key[%d].key: the generated key is not there after writing the file", file, i)
		}
	}
	return reloaded, gen, nil
}

// randomAdminKey returns 128 random bits as 32 hex digits, the shape of APISIX's keys.
func randomAdminKey() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand crashes the program instead)
	return hex.EncodeToString(b[:])
}

// setAdminKeys returns data with keys (admin_key index -> key) written in. merged is the
// merged admin_key list, used when data does not define one. Problems go to e.
func setAdminKeys(data []byte, merged []AdminKey, keys map[int]string, e *errs) []byte {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		e.add("", "%v", err) // changed since Load read it
		return nil
	}
	if len(doc.Content) == 0 {
		// Empty or only comments: yaml.v3 would drop the comments, so append instead.
		section := &yaml.Node{Kind: yaml.MappingNode}
		setSection(section, merged, keys, e)
		out := bytes.Clone(data)
		if len(out) > 0 && !bytes.HasSuffix(out, []byte("\n")) {
			out = append(out, '\n')
		}
		return append(out, encodeYAML(section, 2, e)...)
	}
	setSection(doc.Content[0], merged, keys, e)
	return encodeYAML(&doc, indentOf(doc.Content[0]), e)
}

// setSection writes the keys into root's deployment.admin.admin_key, creating the
// missing maps, or writing the whole merged list when the file has none.
func setSection(root *yaml.Node, merged []AdminKey, keys map[int]string, e *errs) {
	node := root
	p := path("")
	for _, k := range []string{"deployment", "admin"} {
		p = p.key(k)
		var ok bool
		if node, ok = child(node, k, p, e, true); !ok {
			return
		}
	}
	p = p.key("admin_key")
	list, ok := child(node, "admin_key", p, e, false)
	if !ok {
		return
	}
	if list == nil {
		list = &yaml.Node{Kind: yaml.SequenceNode}
		for i, k := range merged {
			if key, ok := keys[i]; ok {
				k.Key = key
			}
			entry := &yaml.Node{Kind: yaml.MappingNode}
			entry.Content = append(entry.Content, scalar("name"), scalar(k.Name),
				scalar("key"), quoted(k.Key), scalar("role"), scalar(k.Role))
			list.Content = append(list.Content, entry)
		}
		node.Content = append(node.Content, scalar("admin_key"), list)
		return
	}
	if list.Kind != yaml.SequenceNode {
		e.add(p, "expected a list of {name, key, role}")
		return
	}
	for i, key := range keys {
		ip := p.index(i)
		if i >= len(list.Content) || list.Content[i].Kind != yaml.MappingNode {
			e.add(ip, "expected a {name, key, role} map") // changed since Load read it
			continue
		}
		entry := list.Content[i]
		v, ok := child(entry, "key", ip.key("key"), e, false)
		switch {
		case !ok:
		case v == nil:
			entry.Content = append(entry.Content, scalar("key"), quoted(key))
		case v.Kind == yaml.ScalarNode && (v.Tag == "!!null" || v.Value == ""):
			v.Tag, v.Value = "!!str", key
			if v.Style != yaml.SingleQuotedStyle {
				v.Style = yaml.DoubleQuotedStyle
			}
		case v.Kind == yaml.ScalarNode:
			e.add(ip.key("key"), "is empty once its ${{...}} reference is substituted; "+
				"portico does not overwrite a variable reference with a generated key: set the variable")
		default:
			e.add(ip.key("key"), "expected a string") // changed since Load read it
		}
	}
}

// child returns the value of key k in mapping m, nil when it is absent; with create, an
// absent key is added with an empty map. ok is false after a problem was reported.
// Aliases are refused: editing the anchor would change every place that uses it.
func child(m *yaml.Node, k string, p path, e *errs, create bool) (v *yaml.Node, ok bool) {
	if m.Kind != yaml.MappingNode {
		e.add(p, "cannot write the generated admin key: the parent is not a map")
		return nil, false
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value != k {
			continue
		}
		v = m.Content[i+1]
		if v.Kind == yaml.AliasNode {
			e.add(p, "is a YAML alias; write the admin key there yourself")
			return nil, false
		}
		return v, true
	}
	if !create {
		return nil, true
	}
	v = &yaml.Node{Kind: yaml.MappingNode}
	m.Content = append(m.Content, scalar(k), v)
	return v, true
}

func scalar(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

// quoted is a double-quoted string: a key of hex digits could otherwise read as a number.
func quoted(s string) *yaml.Node {
	n := scalar(s)
	n.Style = yaml.DoubleQuotedStyle
	return n
}

// indentOf guesses the file's indentation from its first nested map (2 when none), so
// re-encoding does not re-indent the whole file.
func indentOf(root *yaml.Node) int {
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if v.Kind == yaml.MappingNode && v.Style&yaml.FlowStyle == 0 && len(v.Content) > 0 {
			if n := v.Content[0].Column - k.Column; n >= 2 && n <= 9 {
				return n
			}
			break
		}
	}
	return 2
}

func encodeYAML(n *yaml.Node, indent int, e *errs) []byte {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(indent)
	if err := enc.Encode(n); err != nil {
		e.add("", "encode: %v", err)
		return nil
	}
	if err := enc.Close(); err != nil {
		e.add("", "encode: %v", err)
		return nil
	}
	return b.Bytes()
}

// replaceFile writes data to name through a temporary file and a rename, so a crash
// leaves the old file or the new one. The result has mode 0600 and name's owner.
func replaceFile(name string, data []byte) error {
	dir := filepath.Dir(name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	old, statErr := os.Stat(name)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(name)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing left to remove
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if st, ok := statSys(old, statErr); ok && (int(st.Uid) != os.Getuid() || int(st.Gid) != os.Getgid()) {
		if err := tmp.Chown(int(st.Uid), int(st.Gid)); err != nil {
			tmp.Close()
			return fmt.Errorf("keep the owner of %s: %w", name, err)
		}
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), name)
}

func statSys(fi fs.FileInfo, err error) (*syscall.Stat_t, bool) {
	if err != nil {
		return nil, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return st, ok
}
