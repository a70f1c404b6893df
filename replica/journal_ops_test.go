package replica

import (
	"testing"

	"github.com/chronon-db/chronon/wire"
)

// dropPackets removes in-flight packets for which drop returns true.
func (c *cluster) dropPackets(drop func(p *packet, h *wire.Header) bool) {
	keep := c.net.packets[:0]
	for i := range c.net.packets {
		p := &c.net.packets[i]
		var h wire.Header
		h.Decode(p.data)
		if drop(p, &h) {
			continue
		}
		keep = append(keep, *p)
	}
	c.net.packets = keep
}

// TestInstallLogTruncatesUnloadedJournalOps (found in review; simulator
// seeds 30593 and 20093 --replicas 5): installLog used to truncate the
// journal only when keep < r.op, the op recovery loaded into memory. A restarted replica may
// hold journaled ops above r.op that it did not load (here: a primary's
// uncommitted prepares of the old view beyond the recorded commit number;
// in the simulator: ops above a hole, the withholdVotesUntilCaughtUp case).
// The new view replaced them, but they stay in the WAL; after the next
// restart with the new view's commit number they are replayed as
// committed.
func TestInstallLogTruncatesUnloadedJournalOps(t *testing.T) {
	c := newCluster(t, 51, 3, 4, 10)
	c.run(50_000)
	base := c.replicas[0].CommitMin()
	// The primary of view 0 is cut off and prepares ops nobody else gets.
	c.net.isolated = 0
	for _, cl := range c.clients {
		cl.count += 5
		cl.done = false
		cl.view = 0
	}
	for s := 0; s < 1_000 && len(c.journals[0].written) == int(base); s++ {
		c.step()
	}
	for range 3 {
		c.step()
	}
	if c.replicas[0].Op() <= base {
		t.Fatalf("setup: primary prepared nothing: %s", c.describe())
	}
	// It crashes; 1 and 2 elect view 1 and commit the requests anew.
	c.down[0] = true
	c.dropPackets(func(p *packet, h *wire.Header) bool { return p.toReplica == 0 || p.from == 0 })
	for s := 0; s < 100_000 && !c.clientsDone(); s++ {
		c.step()
	}
	committed := c.replicas[1].CommitMin()
	if !c.clientsDone() || committed <= base || c.journals[1].written[base+1] == c.journals[0].written[base+1] {
		t.Fatalf("setup view 1: %s", c.describe())
	}
	// Replica 0 restarts: it replays up to its recorded commit number; its
	// later (uncommitted, now replaced) ops stay in its journal, unloaded.
	if err := c.restartReplica(0, base); err != nil {
		t.Fatal(err)
	}
	c.down[0] = false
	c.net.isolated = -1
	for s := 0; s < 5_000; s++ {
		c.step()
		r0 := c.replicas[0]
		if r0.Status() == StatusNormal && r0.View() >= 1 {
			// Crash right after installing the new view, before repair;
			// the node's RecordVSR has recorded the commit number learned.
			t.Logf("replica 0 installed view %d at op %d, commit max %d", r0.View(), r0.Op(), r0.CommitMax())
			if err := c.restartReplica(0, r0.CommitMax()); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	r0 := c.replicas[0]
	for op := base + 1; op <= r0.CommitMin(); op++ {
		if got, want := c.journals[0].written[op], c.journals[1].written[op]; got != want {
			t.Fatalf("replica 0 committed op %d as %v after the restart; the cluster committed %v: %s", op, got, want, c.describe())
		}
	}
}
