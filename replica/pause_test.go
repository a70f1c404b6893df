package replica

import (
	"slices"
	"testing"

	"github.com/chronon-db/chronon/wire"
)

// resume unfreezes replica i and hands it everything that arrived while it
// was frozen, in arrival order and all at once — no journal completion, no
// tick in between — as a process resumed with SIGCONT finds a burst of
// buffered TCP data and its bus hands a whole receive buffer to the replica
// in one go. It returns how many of those messages found the pool empty.
func (c *cluster) resume(i int) (starved int) {
	c.frozen[i] = false
	var burst []packet
	keep := c.held[:0]
	for _, p := range c.held {
		if p.toReplica == i {
			burst = append(burst, p)
		} else {
			keep = append(keep, p)
		}
	}
	c.held = keep
	slices.SortStableFunc(burst, func(a, b packet) int { return int(a.due) - int(b.due) })
	for _, p := range burst {
		if c.pools[i].Free() == 0 {
			starved++
			continue
		}
		c.deliverToReplica(i, p.data)
		if used, held := c.pools[i].Count()-c.pools[i].Free(), c.replicas[i].MessagesHeld(); used > held {
			c.t.Fatalf("replica %d has %d pool buffers in use but holds at most %d", i, used, held)
		}
	}
	return starved
}

// TestPausedPrimaryResumesIntoBurst freezes the primary (no ticks, no
// deliveries, no journal completions: SIGSTOP) while the backups elect a
// new primary and commit many ops, then resumes it with everything sent to
// it delivered in one burst before any of its journal writes completes. It
// joins the new view and catches up as a backup inside that burst; what it
// keeps must stay within its limits: no panic, no message of the burst
// finds the pool empty (the pool is sized for every holder), and the
// replicas converge with every request executed once.
func TestPausedPrimaryResumesIntoBurst(t *testing.T) {
	seeds := uint64(5)
	if testing.Short() {
		seeds = 2
	}
	for seed := uint64(1); seed <= seeds; seed++ {
		c := newCluster(t, seed, 3, 8, 150)
		for range 100 {
			c.step()
		}
		c.frozen[0] = true
		op := c.replicas[1].Op()
		for range 700 {
			c.step()
		}
		if c.replicas[1].View() == 0 {
			t.Fatalf("seed %d: no view change while the primary was frozen", seed)
		}
		moved := c.replicas[1].Op() - op
		if moved < uint64(c.pools[0].Count()) {
			t.Fatalf("seed %d: the cluster moved on by %d ops only; the burst must outnumber the pool (%d)", seed, moved, c.pools[0].Count())
		}
		if starved := c.resume(0); starved > 0 {
			t.Fatalf("seed %d: %d messages of the burst found replica 0's pool empty: %s", seed, starved, c.describe())
		}
		c.run(300_000)
		c.checkConverged()
	}
}

// TestRegisterBurstBeyondClientsMax delivers more concurrent registers from
// distinct clients than the client table has sessions, in two rounds with
// a prepare in between, before anything commits: the first ClientsMax wait
// in a prepare, the rest must be dropped and counted (the clients retry),
// never overflow the list of registers in flight.
func TestRegisterBurstBeyondClientsMax(t *testing.T) {
	c := newCluster(t, 3, 3, 0, 0)
	r := c.replicas[0]
	cfg := r.cfg
	n := cfg.Limits.ClientsMax
	for i := range n {
		c.deliverToReplica(0, rawRequest(cfg, wire.Uint128{Lo: uint64(100 + i)}, 0, 0, wire.Uint128{}, 0))
	}
	r.Flush() // the registers leave the queue for a prepare; none committed yet
	if r.requests.count != 0 || r.CommitMin() != 0 {
		t.Fatalf("queue %d, commit %d: want the registers prepared, not committed", r.requests.count, r.CommitMin())
	}
	for i := range n {
		c.deliverToReplica(0, rawRequest(cfg, wire.Uint128{Lo: uint64(200 + i)}, 0, 0, wire.Uint128{}, 0))
	}
	if r.Counters.DropQueueFull != uint64(n) {
		t.Fatalf("DropQueueFull %d, want %d (registers beyond the sessions in flight)", r.Counters.DropQueueFull, n)
	}
	for range 50 {
		c.step()
	}
	if r.clients.used != n || len(r.clients.registering) != 0 {
		t.Fatalf("%d sessions, %d registering: want %d and 0", r.clients.used, len(r.clients.registering), n)
	}
}
