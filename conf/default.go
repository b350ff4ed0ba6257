package conf

import (
	_ "embed"
	"slices"
)

// defaultYAML is conf/config-default.yaml, compiled in so the binary never depends on the
// shipped copy (which packaging overwrites on upgrade and operators should not edit).
//
//go:embed config-default.yaml
var defaultYAML []byte

// DefaultYAML returns the embedded config-default.yaml (a copy; callers may modify it).
func DefaultYAML() []byte {
	return slices.Clone(defaultYAML)
}
