package replica

import (
	"testing"

	"github.com/chronon-db/chronon/wire"
)

// replaceDataFile gives replica i an empty journal and a new state machine,
// as after `chronon format` on a new disk, and marks it rejoining when
// rejoin is set.
func (c *cluster) replaceDataFile(t *testing.T, i int, rejoin bool) *Replica {
	t.Helper()
	old := c.replicas[i]
	pool, err := wire.NewPool(old.cfg.Limits.MessagesMax(), old.cfg.Limits.MessageSizeMax)
	if err != nil {
		t.Fatal(err)
	}
	j := &memJournal{rng: c.rng, now: &c.net.now, written: map[uint64]wire.Uint128{}, stored: map[uint64][]byte{}}
	sm := newCounterMachine()
	r, err := New(old.cfg, pool, &replicaBus{net: c.net, from: uint8(i)}, j, testClock{&c.net.now}, sm)
	if err != nil {
		t.Fatal(err)
	}
	if rejoin {
		if err := r.startRejoining(); err != nil {
			t.Fatal(err)
		}
	}
	c.replicas[i], c.pools[i], c.journals[i], c.machines[i] = r, pool, j, sm
	return r
}

// moreRequests gives every client n more requests to send.
func (c *cluster) moreRequests(n uint32) {
	for _, cl := range c.clients {
		cl.count += n
		cl.done = false
	}
}

func (c *cluster) clientsDone() bool {
	for _, cl := range c.clients {
		if !cl.done {
			return false
		}
	}
	return true
}
