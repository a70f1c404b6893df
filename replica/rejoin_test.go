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

// TestRejoiningReplicaCatchesUpThenVotes: a backup's data file is replaced
// while the cluster runs; it catches up, records the end of rejoining
// durably, and then takes part in view changes again.
func TestRejoiningReplicaCatchesUpThenVotes(t *testing.T) {
	c := newCluster(t, 21, 3, 4, 20)
	c.run(50_000)
	r := c.replaceDataFile(t, 2, true)
	c.moreRequests(20)
	c.run(100_000)
	for range 200 {
		c.step()
	}
	c.checkConverged()
	if r.Rejoining() || c.journals[2].rejoined != 1 || r.Counters.Rejoined != 1 {
		t.Fatalf("still rejoining %v, persisted %d times, counter %d", r.Rejoining(), c.journals[2].rejoined, r.Counters.Rejoined)
	}
	// It votes again: with the primary down, it and replica 1 elect a
	// new primary.
	c.down[0] = true
	c.moreRequests(10)
	for s := 0; s < 100_000 && (c.replicas[1].Status() != StatusNormal || c.replicas[1].View() == 0); s++ {
		c.step()
	}
	if c.replicas[1].View() == 0 || c.replicas[1].Status() != StatusNormal || r.Counters.VotesWithheld != 0 {
		t.Fatalf("no view change with the rejoined replica: %s", c.describe())
	}
}

// TestRejoiningReplicaDoesNotLoseCommittedOps is the classic recovery
// hazard: ops committed by replicas 0 and 1 alone (2 is cut off); then
// replica 1 loses its data file and replica 0 goes down. Replica 1 with a
// fresh file and replica 2 must not elect a primary: together they do not
// hold the committed ops. Without the rejoin mark they do, and lose them.
func TestRejoiningReplicaDoesNotLoseCommittedOps(t *testing.T) {
	for _, rejoin := range []bool{true, false} {
		c := newCluster(t, 22, 3, 4, 10)
		c.run(50_000)
		c.net.isolated = 2
		c.moreRequests(10)
		for s := 0; s < 100_000 && !c.clientsDone(); s++ {
			c.step()
		}
		if !c.clientsDone() {
			t.Fatalf("clients did not finish with replica 2 cut off: %s", c.describe())
		}
		committed := c.replicas[0].CommitMin()
		if c.replicas[2].CommitMin() >= committed {
			t.Fatal("replica 2 was not cut off")
		}
		c.down[0] = true
		c.replaceDataFile(t, 1, rejoin)
		c.net.isolated = -1
		elected := false
		for range 20_000 {
			c.step()
			for _, i := range []int{1, 2} {
				if r := c.replicas[i]; r.Status() == StatusNormal && r.View() > 0 {
					elected = true
				}
			}
		}
		if !rejoin {
			// The hazard is real: the new view's log misses committed ops.
			if !elected || c.replicas[2].Op() >= committed {
				t.Fatalf("without the rejoin mark: elected %v, replica 2 at op %d of %d committed", elected, c.replicas[2].Op(), committed)
			}
			continue
		}
		// Replica 1 cannot even finish its probe (it hears from one peer
		// of the two it needs), so it neither votes nor acknowledges.
		if elected || !c.replicas[1].Rejoining() || c.replicas[1].Op() != 0 {
			t.Fatalf("a view was started without the committed ops: %s", c.describe())
		}
		// Replica 0 comes back from its journal (its superblock knowing the
		// commit number): the ops survive.
		c.down[0] = false
		if err := c.restartReplica(0, committed); err != nil {
			t.Fatal(err)
		}
		c.moreRequests(5)
		c.run(200_000)
		c.checkConverged()
		if c.replicas[2].CommitMin() < committed {
			t.Fatalf("replica 2 at op %d, %d were committed", c.replicas[2].CommitMin(), committed)
		}
	}
}
