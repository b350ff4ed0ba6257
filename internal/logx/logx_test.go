package logx

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rs/zerolog"
)

func TestLevel(t *testing.T) {
	for nginx, want := range map[string]zerolog.Level{
		"debug":  zerolog.DebugLevel,
		"info":   zerolog.InfoLevel,
		"notice": zerolog.InfoLevel,
		"warn":   zerolog.WarnLevel,
		"":       zerolog.WarnLevel, // nginx_config.error_log_level's default
		"error":  zerolog.ErrorLevel,
		"crit":   zerolog.FatalLevel,
		"alert":  zerolog.FatalLevel,
		"emerg":  zerolog.FatalLevel,
	} {
		if got := Level(nginx); got != want {
			t.Errorf("Level(%q) = %v, want %v", nginx, got, want)
		}
	}
}

func TestOpenFileAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "error.log")
	for _, line := range []string{"one\n", "two\n"} {
		f, err := OpenFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(line); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != "one\ntwo\n" {
		t.Errorf("file = %q", data)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm()&^0o644 != 0 {
		t.Errorf("mode %v, want at most 0644", st.Mode().Perm())
	}
}

func TestNewLoggerFieldsAndLevel(t *testing.T) {
	var buf bytes.Buffer
	log := New(&buf, "warn")
	log.Info().Msg("dropped")
	log.Warn().Str(FieldRole, "worker").Int(FieldSlot, 3).Msg("kept")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d lines, want 1: %q", len(lines), buf.String())
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &obj); err != nil {
		t.Fatalf("not JSON: %q: %v", lines[0], err)
	}
	if obj["message"] != "kept" || obj["level"] != "warn" || obj[FieldRole] != "worker" || obj[FieldSlot] != float64(3) {
		t.Errorf("line = %v", obj)
	}
	if obj[FieldPid] != float64(os.Getpid()) {
		t.Errorf("pid = %v, want %d", obj[FieldPid], os.Getpid())
	}
	if _, ok := obj["time"]; !ok {
		t.Errorf("no time field: %v", obj)
	}
}

// Writers keep writing while the file is swapped (log reopen) and the old
// file closed, the way the master and children do on USR1: no line is lost,
// torn or duplicated, and every Write succeeds.
func TestWriterSwapUnderConcurrentWriters(t *testing.T) {
	dir := t.TempDir()
	open := func(i int) *os.File {
		t.Helper()
		f, err := OpenFile(filepath.Join(dir, fmt.Sprintf("log.%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	w := NewWriter(open(0))
	if w.File() == nil {
		t.Fatal("File() = nil")
	}

	const writers, perWriter, swaps = 8, 400, 25
	next := make([]*os.File, swaps+1)
	for i := 1; i <= swaps; i++ {
		next[i] = open(i)
	}
	pad := strings.Repeat("x", 300) // longer lines make a torn write visible
	var wg sync.WaitGroup
	var failed atomic.Int64
	var written atomic.Int64
	stop := make(chan struct{})
	for g := 0; g < writers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWriter; i++ {
				line := fmt.Sprintf("w%d n%d %s end\n", g, i, pad)
				n, err := w.Write([]byte(line))
				if err != nil || n != len(line) {
					failed.Add(1)
				}
				written.Add(1)
			}
		}()
	}
	swapDone := make(chan struct{})
	go func() {
		defer close(swapDone)
		for i := 1; i <= swaps; i++ {
			select {
			case <-stop:
				return
			default:
			}
			// Spread the swaps over the writers' run.
			for written.Load() < int64(i*writers*perWriter/(swaps+1)) {
				select {
				case <-stop:
					return
				default:
					runtime.Gosched()
				}
			}
			old := w.Swap(next[i])
			if err := old.Close(); err != nil {
				t.Errorf("close old file: %v", err)
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-swapDone
	w.File().Close()

	if n := failed.Load(); n != 0 {
		t.Fatalf("%d writes failed (a writer used a file that was swapped out and closed)", n)
	}
	seen := map[string]int{}
	files, err := filepath.Glob(filepath.Join(dir, "log.*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 {
		t.Fatalf("only %d log files: the swaps did not happen", len(files))
	}
	nonEmpty := 0
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 4096), 4096)
		lines := 0
		for sc.Scan() {
			line := sc.Text()
			var g, i int
			if _, err := fmt.Sscanf(line, "w%d n%d", &g, &i); err != nil || line != fmt.Sprintf("w%d n%d %s end", g, i, pad) {
				t.Fatalf("%s: torn line %q", filepath.Base(name), line)
			}
			seen[line]++
			lines++
		}
		if err := sc.Err(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		f.Close()
		if lines > 0 {
			nonEmpty++
		}
	}
	if len(seen) != writers*perWriter {
		t.Errorf("%d distinct lines across %d files, want %d", len(seen), len(files), writers*perWriter)
	}
	for line, n := range seen {
		if n != 1 {
			t.Errorf("line %.12q written %d times", line, n)
		}
	}
	if nonEmpty < 2 {
		t.Errorf("lines landed in %d file(s), want the swaps to split them", nonEmpty)
	}
}

func TestWriterSwapReturnsPrevious(t *testing.T) {
	dir := t.TempDir()
	a, err := OpenFile(filepath.Join(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := OpenFile(filepath.Join(dir, "b"))
	if err != nil {
		t.Fatal(err)
	}
	w := NewWriter(a)
	fmt.Fprint(w, "to a\n")
	if old := w.Swap(b); old != a {
		t.Fatalf("Swap returned %v, want the first file", old)
	}
	a.Close()
	if w.File() != b {
		t.Error("File() is not the swapped-in file")
	}
	fmt.Fprint(w, "to b\n")
	b.Close()
	for name, want := range map[string]string{"a": "to a\n", "b": "to b\n"} {
		data, _ := os.ReadFile(filepath.Join(dir, name))
		if string(data) != want {
			t.Errorf("%s = %q, want %q", name, data, want)
		}
	}
}
