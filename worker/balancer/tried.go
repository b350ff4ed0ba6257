package balancer

// addr is a node's identity, Node.Key without building the string.
type addr struct {
	host string
	port int
}

// inlineTried is how many nodes a Tried holds without allocating.
const inlineTried = 8

// Tried is the set of nodes one request has tried, keyed by host:port.
// The zero value is empty and ready; Reset makes it reusable for another
// request. Up to 8 nodes are held without allocating. Not safe for
// concurrent use: it belongs to one request.
type Tried struct {
	n     int
	small [inlineTried]addr
	more  []addr
}

// Add records n as tried; adding it twice is harmless.
func (t *Tried) Add(n Node) {
	if t.has(n.Host, n.Port) {
		return
	}
	a := addr{n.Host, n.Port}
	if t.n < inlineTried {
		t.small[t.n] = a
	} else {
		t.more = append(t.more, a)
	}
	t.n++
}

// Has reports whether n was tried.
func (t *Tried) Has(n Node) bool { return t.has(n.Host, n.Port) }

// Len is the number of nodes tried.
func (t *Tried) Len() int { return t.n }

// Reset empties the set, keeping its storage.
func (t *Tried) Reset() {
	clear(t.small[:])
	clear(t.more)
	t.more = t.more[:0]
	t.n = 0
}

func (t *Tried) has(host string, port int) bool {
	k := min(t.n, inlineTried)
	for i := range k {
		if t.small[i].port == port && t.small[i].host == host {
			return true
		}
	}
	for i := range t.more {
		if t.more[i].port == port && t.more[i].host == host {
			return true
		}
	}
	return false
}
