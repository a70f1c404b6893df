package replica

import (
	"testing"

	"github.com/chronon-db/chronon/wire"
)

// TestKnownGapPowerLossAfterViewChangeUncommittedTail (liveness, fourth
// review): 5 replicas. Primary 0 prepares ops that only replica 1
// acknowledges (never committed: 2 of 5). Replica 0 is cut off; view 1
// starts on replica 1 with votes of 1, 2, 3, 4 and installs replica 1's log
// (head H, the uncommitted tail included), so start_view(1) carries
// op_min = H. Backups 2, 3, 4 record H as their log head but cannot fetch
// the tail yet. A cluster-wide power loss then leaves 2, 3, 4 damaged
// (journal < log head) and only 0 and 1 whole: 2 of a quorum of 3. When
// damaged replicas only withheld, no view could ever start (the open gap
// this test was named for); their damaged votes, bounded by H, let a view
// start with replica 1's log, which covers them.
func TestKnownGapPowerLossAfterViewChangeUncommittedTail(t *testing.T) {
	c := newCluster(t, 7, 5, 4, 10)
	c.run(50_000)
	committed := c.replicas[0].CommitMin()
	if committed == 0 || c.replicas[0].View() != 0 {
		t.Fatalf("setup: %s", c.describe())
	}
	// Prepares reach replica 1 only: nothing more commits.
	onlyTo1 := func(p *packet, h *wire.Header) bool {
		return p.toReplica >= 2 && h.Command == wire.CommandPrepare
	}
	c.moreRequests(5)
	r0, r1 := c.replicas[0], c.replicas[1]
	for s := 0; s < 200 && r1.Op() < committed+2; s++ {
		c.step()
		c.dropPackets(onlyTo1)
	}
	if r1.Op() < committed+2 || r0.CommitMin() != committed {
		t.Fatalf("setup tail: r0 op %d commit %d, r1 op %d: %s", r0.Op(), r0.CommitMin(), r1.Op(), c.describe())
	}
	head := r1.Op()
	// Replica 0 goes away; view 1 starts on replica 1.
	c.down[0] = true
	cut0 := func(p *packet, h *wire.Header) bool { return p.toReplica == 0 || p.from == 0 }
	c.dropPackets(cut0)
	// Backups get no prepares (so they cannot fetch the tail).
	noPrepares := func(p *packet, h *wire.Header) bool {
		return p.toReplica >= 2 && h.Command == wire.CommandPrepare
	}
	r1.startViewChange(1)
	installed := func() bool {
		if r1.Status() != StatusNormal || r1.View() != 1 {
			return false
		}
		for i := 2; i < 5; i++ {
			r := c.replicas[i]
			if r.View() != 1 || r.LogView() != 1 || r.Status() != StatusNormal {
				return false
			}
		}
		return true
	}
	for s := 0; s < 5_000 && !installed(); s++ {
		c.step()
		c.dropPackets(cut0)
		c.dropPackets(noPrepares)
	}
	if !installed() {
		t.Fatalf("setup view 1: %s", c.describe())
	}
	if r1.CommitMin() != committed {
		t.Fatalf("view 1 committed the tail: %s", c.describe())
	}
	for i := 2; i < 5; i++ {
		t.Logf("replica %d: op %d, recorded log head %d (view 1 started at %d)", i, c.replicas[i].Op(), c.journals[i].logOp, head)
	}
	// Power loss of the whole cluster.
	c.net.packets = nil
	c.down[0] = false
	for i := range c.replicas {
		c.restartLikeRecover(t, i, c.journals[i].commitMax)
	}
	withholding := c.withholding()
	t.Logf("after the restart %d of 5 replicas withhold their votes", withholding)
	if i := c.primaryAbove(1, 100_000, nil); i >= 0 {
		r := c.replicas[i]
		if r.Op() < committed {
			t.Fatalf("view %d started by %d without committed ops: %s", r.View(), i, c.describe())
		}
		t.Logf("view %d started by replica %d at op %d", r.View(), i, r.Op())
		return
	}
	t.Fatalf("no view started in 100000 ticks after a cluster-wide power loss (%d of 5 withholding; they lack only ops acknowledged by 2 replicas, never committed): %s",
		withholding, c.describe())
}
