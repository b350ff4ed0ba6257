// Package buildinfo holds what the build stamps into the binary.
package buildinfo

// Version is set with -ldflags "-X github.com/portico-gw/portico/internal/buildinfo.Version=..."
// by the Makefile from the VERSION file or the git tag.
var Version = "0.0.0-dev"
