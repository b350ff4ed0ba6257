package conf

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
)

const defaultName = "config-default.yaml"

// Load reads the embedded config-default.yaml merged with the user file.
//
// prefix is the home directory (holds conf/, logs/, data/). configFile "" means
// <prefix>/conf/config.yaml, or <prefix>/conf/config-$APISIX_PROFILE.yaml when that
// variable is set. A missing conf/config.yaml means "defaults only"; a missing -c file or
// profile file is an error naming its path. A relative configFile is taken against the
// working directory, as `apisix start -c` does. Environment variables come from the
// process (see Parse for the ones that matter).
func Load(prefix, configFile string) (*Config, error) {
	absPrefix, err := filepath.Abs(prefix)
	if err != nil {
		return nil, fmt.Errorf("resolve prefix %q: %w", prefix, err)
	}
	file, optional := configFile, false
	if file == "" {
		name := "config.yaml"
		if profile := os.Getenv("APISIX_PROFILE"); profile != "" {
			name = "config-" + profile + ".yaml"
		} else {
			optional = true
		}
		file = filepath.Join(absPrefix, "conf", name)
	}
	if file, err = filepath.Abs(file); err != nil {
		return nil, fmt.Errorf("resolve config file %q: %w", configFile, err)
	}

	data, err := os.ReadFile(file)
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrNotExist) && optional:
		file, data = "", nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("customized config file not exists, path: %s", file)
	default:
		return nil, fmt.Errorf("read config file: %w", err)
	}

	cfg, err := Parse(absPrefix, displayName(absPrefix, file), data, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	cfg.File = file
	return cfg, nil
}

// displayName is the name errors use for the user file: relative to the prefix when it
// lies inside it ("conf/config.yaml"), else absolute; "" when there is no user file.
func displayName(prefix, file string) string {
	if file == "" {
		return ""
	}
	if rel, err := filepath.Rel(prefix, file); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return rel
	}
	return file
}

// Parse is Load on bytes: user is the content of the user config file (nil or blank
// means defaults only) and userName the name its errors carry (config-default.yaml when
// empty). getenv (os.LookupEnv when nil) serves ${{VAR}} substitution and the variables
// APISIX reads directly: APISIX_DEPLOYMENT_ETCD_HOST and APISIX_WORKER_PROCESSES.
// The returned Config has File == ""; Load fills it.
//
// Every error is an ErrorList. The stages stop at the first one that fails, because each
// works on the previous one's output: YAML syntax, substitution, merge, strict decoding,
// derivation, then Validate. Within a stage every problem is reported.
func Parse(prefix, userName string, user []byte, getenv func(string) (string, bool)) (*Config, error) {
	if getenv == nil {
		getenv = os.LookupEnv
	}
	absPrefix, err := filepath.Abs(prefix)
	if err != nil {
		return nil, fmt.Errorf("resolve prefix %q: %w", prefix, err)
	}
	e := &errs{file: or(userName, defaultName)}

	doc, err := parseYAML(defaultYAML)
	if err != nil || doc == nil {
		return nil, fmt.Errorf("embedded %s is broken: %v", defaultName, err) // a build bug
	}
	userDoc, err := parseYAML(user)
	if err != nil {
		e.add("", "%v", err)
		return nil, e.err()
	}

	sub := &substituter{getenv: getenv, used: map[string]bool{}, errs: e}
	sub.doc(userDoc)
	if err := e.err(); err != nil {
		return nil, err
	}
	host, _ := lookup(userDoc, "deployment", "etcd", "host")
	userSetHost := host != nil

	merge(doc, userDoc, "", e)
	if err := e.err(); err != nil {
		return nil, err
	}
	if etcdHostFromEnv(doc, getenv, e) {
		userSetHost = true
	}
	if err := e.err(); err != nil {
		return nil, err
	}

	cfg := &Config{Prefix: absPrefix, Merged: doc, name: e.file}
	(&decoder{errs: e}).decode(doc, reflect.ValueOf(cfg).Elem(), "", spec{})
	if err := e.err(); err != nil {
		return nil, err
	}
	cfg.EnvVars = sortedKeys(sub.used)
	cfg.derive(deriveInput{getenv: getenv, userSetHost: userSetHost}, e)
	if err := e.err(); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// etcdHostFromEnv applies APISIX's reserved variable APISIX_DEPLOYMENT_ETCD_HOST, a JSON
// array of URLs that replaces deployment.etcd.host. APISIX prints and ignores a value
// that is not JSON; Portico refuses it. It reports whether the host was replaced.
func etcdHostFromEnv(doc map[string]any, getenv func(string) (string, bool), e *errs) bool {
	const name = "APISIX_DEPLOYMENT_ETCD_HOST"
	v, found := getenv(name)
	if !found || strings.TrimSpace(v) == "" {
		return false
	}
	etcd, ok := lookup(doc, "deployment", "etcd")
	m, isMap := etcd.(map[string]any)
	if !ok || !isMap {
		return false
	}
	var hosts any
	if err := json.Unmarshal([]byte(v), &hosts); err != nil {
		e.env(name, "expected a JSON array of URLs: %v", err)
		return false
	}
	m["host"] = normalize(hosts)
	return true
}
