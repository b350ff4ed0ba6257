package master

import (
	"errors"
	"fmt"
	"os"
	"strconv"
)

// Upgrade starts the binary on disk as the next master and hands it every
// socket and zone. It returns once the new master is ready, or why it is not.
//
// A failure is logged once here, whoever asked (USR2 or `portico upgrade`).
func (m *Master) Upgrade() (err error) {
	defer func() {
		if err != nil {
			m.log.Error().Err(err).Msg("upgrade failed, this master keeps serving")
		}
	}()
	if !m.opMu.TryLock() {
		return errors.New("another reload or upgrade is in progress")
	}
	defer m.opMu.Unlock()
	m.mu.Lock()
	next := m.gen.num + 1
	m.mu.Unlock()
	m.log.Info().Str("binary", m.opts.Self).Msg("upgrade: starting new master")
	os.Setenv(envGeneration, strconv.Itoa(next))
	defer os.Unsetenv(envGeneration)
	if err := m.upg.Upgrade(); err != nil {
		// The new master may have rendered its runtime file before failing.
		m.mu.Lock()
		gen := m.gen
		m.mu.Unlock()
		m.restoreRuntime(gen)
		return fmt.Errorf("upgrade: %w", err)
	}
	// From now on the new master answers: stop accepting before the CLI
	// that asked learns of the success, so its next request cannot reach
	// this draining master. The socket lives on in the successor.
	m.ctl.Close()
	return nil
}
