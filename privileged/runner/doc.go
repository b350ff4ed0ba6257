// Package runner supervises the external plugin runner (ext-plugin.cmd) on
// behalf of the privileged agent: it spawns the runner, drains its output
// into the agent's log, keeps its socket private, respawns it when it exits
// and stops it when the agent stops (EXT_PLUGIN.md §4).
//
// Invariants:
//   - At most one runner process per Supervisor is alive at any time, and
//     none once Stop has returned: Stop sends SIGTERM to the runner's process
//     group, SIGKILL after KillGrace, and returns only after the runner was
//     reaped and its socket file removed. No respawn happens after Stop began.
//   - BeforeSpawn runs before every spawn attempt, first and respawns, so a
//     runner process never listens before the count the agent keeps in
//     tmpl.StatusSlotRunnerGeneration was raised for it.
//   - The runner is exec'd directly (no shell) in its own process group, so
//     signals meant for the gateway's group never reach it and stopping it
//     also stops what it forked. It gets Pdeathsig SIGKILL: an agent that
//     dies without stopping it (SIGKILL, crash) takes it along. Pdeathsig
//     follows the thread that forked, so the supervising goroutine keeps its
//     OS thread locked for its whole life.
//   - It inherits nothing but stdin (/dev/null) and one pipe as stdout and
//     stderr: every other descriptor of the agent (the master's log file,
//     shared-memory zones, the ipc channel, which a child inherits without
//     close-on-exec) is marked close-on-exec before each spawn.
//   - Its output is read continuously, whatever the log level, and logged at
//     warn per line, in chunks of at most MaxChunk bytes: a chatty runner
//     never blocks on a full pipe.
//   - The socket directory (Config.Dir) is a 0700 directory owned by the
//     agent's user and not a symlink, checked (and its mode repaired) before
//     every spawn; the socket itself is chmod 0600 once it appears and kept so
//     (the Go runner chmods it 0766 right after listening).
//   - A socket left at the path (a runner killed with SIGKILL cannot remove
//     its own) is removed before the next spawn; anything at the path that is
//     not a socket is left alone and the spawn fails.
//   - RemoveOrphans clears sockets whose master pid is no live process
//     (a master killed outright takes agents and runners along before they
//     can clean up); a socket of a live master is never touched.
//   - Respawn delays grow from FirstDelay, doubling, to MaxDelay (APISIX
//     waits 3 s every time) for a runner that keeps exiting, and fall back to
//     FirstDelay once a runner stayed up for Stable.
package runner
