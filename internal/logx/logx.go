// Package logx builds the zerolog loggers every Portico process uses and the
// reopenable file writer behind them.
//
// Invariants:
//   - A Writer's file can be swapped at any time (log reopen) without losing
//     or tearing a line: each Write is one write(2) on an O_APPEND file.
//   - Field names used across processes are the constants below, so the log
//     of a master and of its children can be joined on them.
package logx

import (
	"io"
	"os"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Field names shared by every process.
const (
	FieldComponent  = "component"
	FieldPid        = "pid"
	FieldRole       = "role"
	FieldSlot       = "slot"
	FieldGeneration = "generation"
	FieldRevision   = "rev"
	FieldConfigHash = "config_hash"
	FieldAddr       = "addr"
)

// Writer is an io.Writer whose underlying file can be replaced.
type Writer struct {
	mu sync.RWMutex
	f  *os.File
}

func NewWriter(f *os.File) *Writer { return &Writer{f: f} }

func (w *Writer) Write(p []byte) (int, error) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.f.Write(p)
}

// Swap installs f and returns the previous file, which the caller closes.
func (w *Writer) Swap(f *os.File) *os.File {
	w.mu.Lock()
	defer w.mu.Unlock()
	old := w.f
	w.f = f
	return old
}

// File returns the current file.
func (w *Writer) File() *os.File {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.f
}

// OpenFile opens a log file the way nginx does: append, create, 0644.
func OpenFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
}

// Level maps nginx's error_log levels onto zerolog's.
func Level(nginx string) zerolog.Level {
	switch nginx {
	case "debug":
		return zerolog.DebugLevel
	case "info", "notice":
		return zerolog.InfoLevel
	case "warn", "":
		return zerolog.WarnLevel
	case "error":
		return zerolog.ErrorLevel
	default: // crit, alert, emerg
		return zerolog.FatalLevel
	}
}

// New returns a logger writing JSON lines to w.
func New(w io.Writer, level string) zerolog.Logger {
	zerolog.TimeFieldFormat = time.RFC3339Nano
	return zerolog.New(w).Level(Level(level)).With().Timestamp().Int(FieldPid, os.Getpid()).Logger()
}
