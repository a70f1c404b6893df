package replica

import (
	"testing"

	"github.com/chronon-db/chronon/wire"
)

// TestPowerLossAfterViewChangeElects (liveness, found in review): the log
// head recorded with log_view (LogOp) makes every replica whose journal
// ends below it withhold its vote after a restart. It used to be the
// primary's current head from start_view, so a replica could withhold
// although it lacked nothing that could have committed. After a view change both backups of
// a 3-replica cluster can hold less than the start_view they installed:
// replica 2 lagged (ops committed in view 0 are missing, its withholding is
// needed), replica 0 lacks only the ops the new primary prepared in view 1
// that nobody acknowledged. A power loss of the whole cluster then leaves
// one voter (replica 1): its view change needs two do_view_change, the two
// others withhold until they have caught up with a normal primary, and no
// primary can ever be elected. Replica 0 voting would be safe: the ops it
// lacks were prepared in view 1 itself, so they can only commit with acks
// of view 1, and a replica holding them would outrank its log. It withholds
// because the start_view it installed was resent late, with the primary's
// current head (75) instead of the op view 1 started at (72). The
// simulator cannot find this: it never crashes more than f replicas.
func TestPowerLossAfterViewChangeElects(t *testing.T) {
	c := newCluster(t, 41, 3, 4, 10)
	_, committed := lagBackup2(t, c)
	// View change to view 1 (primary 1); replica 0 does not get start_view(1) yet.
	noStartViewTo0 := func(p *packet, h *wire.Header) bool {
		return p.toReplica == 0 && (h.Command == wire.CommandStartView || h.Command == wire.CommandPrepare)
	}
	c.replicas[1].startViewChange(1)
	for s := 0; s < 5_000 && !(c.replicas[1].Status() == StatusNormal && c.replicas[1].View() == 1); s++ {
		c.step()
		c.dropPackets(noStartViewTo0)
	}
	if c.replicas[1].Status() != StatusNormal || c.replicas[0].View() != 1 {
		t.Fatalf("setup view 1: %s", c.describe())
	}
	// Replica 2 comes back, installs start_view(1), and is cut off before
	// it repaired what it lacks.
	c.down[2] = false
	installed := false
	for s := 0; s < 5_000 && !installed; s++ {
		c.step()
		c.dropPackets(noStartViewTo0)
		r2 := c.replicas[2]
		installed = r2.View() == 1 && r2.LogView() == 1 && r2.Status() == StatusNormal
	}
	if !installed || c.replicas[2].Op() >= committed {
		t.Fatalf("setup replica 2: %s", c.describe())
	}
	cut2 := func(p *packet, h *wire.Header) bool { return p.toReplica == 2 || p.from == 2 }
	c.dropPackets(cut2)
	// Replica 1 prepares new ops in view 1; nobody receives them.
	c.moreRequests(5)
	r1 := c.replicas[1]
	for s := 0; s < 60 && r1.Op() < committed+2; s++ {
		c.step()
		c.dropPackets(cut2)
		c.dropPackets(noStartViewTo0)
	}
	if r1.Op() <= committed || r1.CommitMin() != committed {
		t.Fatalf("setup view 1 ops: %s", c.describe())
	}
	// Replica 0 now installs start_view(1) (prepares to it still lost).
	noPrepareTo0 := func(p *packet, h *wire.Header) bool {
		return p.toReplica == 0 && h.Command == wire.CommandPrepare
	}
	r0 := c.replicas[0]
	for s := 0; s < 2_000 && !(r0.Status() == StatusNormal && r0.LogView() == 1); s++ {
		c.step()
		c.dropPackets(cut2)
		c.dropPackets(noPrepareTo0)
	}
	if r0.Status() != StatusNormal || r0.LogView() != 1 || r0.View() != 1 {
		t.Fatalf("setup replica 0: %s (log op %d)", c.describe(), c.journals[0].logOp)
	}
	// The start_view names the op view 1 started at, not the primary's
	// head: replica 0 holds it.
	if r0.Op() < c.journals[0].logOp {
		t.Fatalf("replica 0 recorded log head %d while holding %d, all of view 1's start", c.journals[0].logOp, r0.Op())
	}
	if r1.CommitMin() != committed {
		t.Fatalf("setup: view 1 committed more: %s", c.describe())
	}
	t.Logf("before the power loss: committed %d; %s; durable log heads %d %d %d", committed, c.describe(),
		c.journals[0].logOp, c.journals[1].logOp, c.journals[2].logOp)
	// Power loss of the whole cluster.
	c.net.packets = nil
	for i := range c.replicas {
		if err := c.restartReplica(i, c.journals[i].commitMax); err != nil {
			t.Fatal(err)
		}
	}
	withholding := c.withholding()
	t.Logf("after the restart %d of 3 replicas withhold their votes", withholding)
	if i := c.primaryAbove(1, 50_000, nil); i >= 0 {
		r := c.replicas[i]
		if r.Op() < committed {
			t.Fatalf("view %d started by %d without committed ops: %s", r.View(), i, c.describe())
		}
		t.Logf("view %d started by replica %d at op %d", r.View(), i, r.Op())
		return
	}
	t.Fatalf("no view started in 50000 ticks after a cluster-wide power loss (%d of 3 withholding; replica 0 lacks only ops prepared in view 1 that no backup acknowledged, so its vote would be safe): %s",
		withholding, c.describe())
}
