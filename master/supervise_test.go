package master

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/control"
	"github.com/portico-gw/portico/internal/proc"
)

func TestRespawnDelayBackoff(t *testing.T) {
	var st respawnState
	want := []time.Duration{
		0, // the first death is respawned at once
		100 * time.Millisecond,
		200 * time.Millisecond,
		400 * time.Millisecond,
		800 * time.Millisecond,
		1600 * time.Millisecond,
		3200 * time.Millisecond,
		6400 * time.Millisecond,
		10 * time.Second, // 12.8s capped
		10 * time.Second,
	}
	for i, w := range want {
		if got := respawnDelay(&st, 0); got != w {
			t.Errorf("death %d: delay %v, want %v", i+1, got, w)
		}
	}
	if st.total != len(want) {
		t.Errorf("total = %d, want %d", st.total, len(want))
	}
}

// However long a slot keeps crashing, the delay never overflows into zero,
// a negative value or anything above the cap.
func TestRespawnDelayNeverOverflows(t *testing.T) {
	var st respawnState
	prev := time.Duration(0)
	for i := 0; i < 300; i++ {
		d := respawnDelay(&st, time.Millisecond)
		if i == 0 {
			if d != 0 {
				t.Fatalf("first death: delay %v, want 0", d)
			}
			continue
		}
		if d <= 0 || d > maxBackoff {
			t.Fatalf("death %d: delay %v out of (0, %v]", i+1, d, maxBackoff)
		}
		if d < prev {
			t.Fatalf("death %d: delay %v shorter than the previous %v", i+1, d, prev)
		}
		prev = d
	}
	if prev != maxBackoff {
		t.Errorf("final delay %v, want the cap %v", prev, maxBackoff)
	}
	if st.total != 300 {
		t.Errorf("total = %d, want 300", st.total)
	}
}

func TestRespawnDelayResetsAfterStableRun(t *testing.T) {
	var st respawnState
	for i := 0; i < 5; i++ {
		respawnDelay(&st, time.Second)
	}
	// A child that lived just under stableAfter still counts as crashing.
	if got := respawnDelay(&st, stableAfter-time.Millisecond); got != 1600*time.Millisecond {
		t.Errorf("quick death after 5: delay %v, want 1.6s", got)
	}
	// One that lived stableAfter resets the history: respawned at once.
	if got := respawnDelay(&st, stableAfter); got != 0 {
		t.Errorf("death after a stable run: delay %v, want 0", got)
	}
	if got := respawnDelay(&st, time.Second); got != firstBackoff {
		t.Errorf("quick death after the reset: delay %v, want %v", got, firstBackoff)
	}
	if got := respawnDelay(&st, time.Hour); got != 0 {
		t.Errorf("death after an hour: delay %v, want 0", got)
	}
	// The total is never reset: it is what `portico status` shows as respawns.
	if st.total != 9 {
		t.Errorf("total = %d, want 9", st.total)
	}
}

func TestSortChildren(t *testing.T) {
	rows := []control.ChildStatus{
		{Pid: 1, Generation: 2, Role: proc.RoleWorker, Slot: 1},
		{Pid: 2, Generation: 1, Role: proc.RolePrivileged},
		{Pid: 3, Generation: 2, Role: proc.RolePrivileged},
		{Pid: 4, Generation: 1, Role: proc.RoleWorker, Slot: 1},
		{Pid: 5, Generation: 2, Role: proc.RoleWorker, Slot: 0},
		{Pid: 6, Generation: 1, Role: proc.RoleWorker, Slot: 0},
		{Pid: 7, Generation: 2, Role: proc.RoleWorker, Slot: 10},
		{Pid: 8, Generation: 2, Role: proc.RoleWorker, Slot: 2},
	}
	sortChildren(rows)
	var got []int
	for _, r := range rows {
		got = append(got, r.Pid)
	}
	// Generation first, then the workers by slot, then the privileged agent.
	want := []int{6, 4, 2, 5, 1, 8, 7, 3}
	if !slices.Equal(got, want) {
		t.Errorf("order by pid = %v, want %v", got, want)
	}
	sortChildren(nil) // must not panic
}

func TestChildEnv(t *testing.T) {
	t.Setenv("TZ", "Europe/Paris")
	t.Setenv("PATH", "/opt/bin:/usr/bin")
	t.Setenv("TABLEFLIP_HAS_PARENT_7DIU3", "yes")
	t.Setenv("PORTICO_TEST_KEPT", "kept value")
	t.Setenv("PORTICO_TEST_DROPPED", "secret")
	t.Setenv("HOME", "/root")
	os.Unsetenv("PORTICO_TEST_UNSET")

	got := childEnv([]string{"PORTICO_TEST_KEPT", "PORTICO_TEST_UNSET", "LITERAL=a=b c", "EMPTY="})
	want := []string{
		"GOMAXPROCS=1",
		"TZ=Europe/Paris",
		"PATH=/opt/bin:/usr/bin",
		"PORTICO_TEST_KEPT=kept value",
		"LITERAL=a=b c",
		"EMPTY=",
	}
	if !slices.Equal(got, want) {
		t.Errorf("childEnv =\n  %q\nwant\n  %q", got, want)
	}
	for _, kv := range got {
		for _, bad := range []string{"TABLEFLIP_HAS_PARENT_7DIU3=", "PORTICO_TEST_DROPPED=", "HOME=", "PORTICO_TEST_UNSET="} {
			if strings.HasPrefix(kv, bad) {
				t.Errorf("childEnv kept %q", kv)
			}
		}
	}
}

func TestChildEnvWithoutTZOrPath(t *testing.T) {
	t.Setenv("TZ", "")
	os.Unsetenv("TZ")
	t.Setenv("PATH", "")
	os.Unsetenv("PATH")
	if got := childEnv(nil); !slices.Equal(got, []string{"GOMAXPROCS=1"}) {
		t.Errorf("childEnv(nil) with neither TZ nor PATH set = %q, want only GOMAXPROCS=1", got)
	}
	// An empty but set TZ is kept: it means UTC to the C library.
	t.Setenv("TZ", "")
	if got := childEnv(nil); !slices.Equal(got, []string{"GOMAXPROCS=1", "TZ="}) {
		t.Errorf("childEnv(nil) with TZ empty = %q, want [GOMAXPROCS=1 TZ=]", got)
	}
}

// An operator's GOMAXPROCS comes after the default, and exec keeps the last.
func TestChildEnvGOMAXPROCSOverride(t *testing.T) {
	t.Setenv("GOMAXPROCS", "4")
	got := childEnv([]string{"GOMAXPROCS"})
	if got[0] != "GOMAXPROCS=1" || got[len(got)-1] != "GOMAXPROCS=4" {
		t.Errorf("childEnv = %q: the operator's GOMAXPROCS must come last", got)
	}
}
