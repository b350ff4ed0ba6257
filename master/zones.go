package master

import (
	"fmt"

	"github.com/portico-gw/portico/ipc"
	"github.com/portico-gw/portico/tmpl"
)

// zone is a shared-memory zone and the size the configuration asked for
// (the zone itself is page-rounded).
type zone struct {
	*ipc.Zone
	want int64
}

func zoneFdName(z tmpl.ShmZone) string { return fmt.Sprintf("shm %s %d", z.Name, z.Size) }

// ensureZones creates (or adopts from the previous master) every zone the
// generation needs. A zone keeps its contents across reloads and upgrades as
// long as its name and size stay; a resized zone starts empty.
func (m *Master) ensureZones(zones []tmpl.ShmZone) error {
	for _, z := range zones {
		if cur, ok := m.zones[z.Name]; ok && cur.want == z.Size {
			continue
		}
		f, err := m.upg.Fds.File(zoneFdName(z))
		if err != nil {
			return fmt.Errorf("inherit shm zone %s: %w", z.Name, err)
		}
		var iz *ipc.Zone
		if f != nil {
			iz, err = ipc.OpenZone(z.Name, f)
		} else {
			iz, err = ipc.CreateZone(z.Name, z.Size)
			if err == nil {
				err = m.upg.Fds.AddFile(zoneFdName(z), iz.File())
			}
		}
		if err != nil {
			return fmt.Errorf("shm zone %s (%d bytes): %w", z.Name, z.Size, err)
		}
		if old, ok := m.zones[z.Name]; ok {
			old.Close()
		}
		m.zones[z.Name] = zone{Zone: iz, want: z.Size}
	}
	return nil
}

// retainZones closes zones no generation uses any more.
func (m *Master) retainZones(zones []tmpl.ShmZone) {
	keep := map[string]bool{}
	for _, z := range zones {
		keep[z.Name] = true
	}
	for name, z := range m.zones {
		if !keep[name] {
			z.Close()
			delete(m.zones, name)
		}
	}
}
