package replica

import (
	"testing"

	"github.com/chronon-db/chronon/wire"
)

// TestWithholdingReplicaStaysWithholdingAcrossViews (safety guard, from the
// review of a durable-view-headers attempt, branch wip/view-headers):
// withholdVotesUntilCaughtUp is re-derived from the journal at each
// restart, so nothing a view change writes may make a withholding
// replica's journal look whole while what it acknowledged is still lost.
// 3 replicas: A=0 (primary), B=1, W=2. Ops k, k+1 commit with acks of A
// and W (B gets no prepares). W restarts with prepare k rotted (withholds).
// View 3 (primary A) starts with votes of A and B; B and W install its
// start_view but cannot fetch k.. (the attempt wrote view headers k..op_min
// here). W crashes again, A fails: B and W must not start a view without
// k (stalling is fine). With the attempt W's journal looked whole (ops
// below k, view headers from k) and view 4 started without k.
func TestWithholdingReplicaStaysWithholdingAcrossViews(t *testing.T) {
	votingModes(t, func(t *testing.T, damagedVotes bool) {
		c := newCluster(t, 13, 3, 1, 10)
		c.run(50_000)
		rA := c.replicas[0]
		committed := rA.CommitMin()
		if committed == 0 || rA.View() != 0 {
			t.Fatalf("setup: %s", c.describe())
		}
		k := committed + 1
		c.clients[0].count += 2
		c.clients[0].done = false
		for s := 0; s < 5_000 && !(rA.CommitMin() >= k+1 && c.journals[2].stored[k+1] != nil); s++ {
			c.step()
			c.dropPackets(noPreparesTo(1))
		}
		if rA.CommitMin() < k+1 || c.replicas[1].Op() >= k {
			t.Fatalf("setup ops %d,%d: %s", k, k+1, c.describe())
		}
		// W restarts with prepare k rotted: it withholds its vote.
		hk := c.restartWithRottedPrepare(t, 2, k, damagedVotes)
		t.Logf("W restarted: op %d commit %d withholding %v", c.replicas[2].Op(), c.replicas[2].CommitMin(), c.replicas[2].Rejoining())
		// View 3, primary A.
		rA.startViewChange(3)
		installed := func() bool {
			for i := 0; i < 3; i++ {
				r := c.replicas[i]
				if r.View() != 3 || r.LogView() != 3 || r.Status() != StatusNormal {
					return false
				}
			}
			return true
		}
		for s := 0; s < 5_000 && !installed(); s++ {
			c.step()
			c.dropPackets(noPreparesTo(1, 2))
		}
		if !installed() {
			t.Fatalf("setup view 3: %s", c.describe())
		}
		t.Logf("view 3: B op %d, W op %d (log head %d), W withholding %v", c.replicas[1].Op(), c.replicas[2].Op(), c.journals[2].logOp, c.replicas[2].Rejoining())
		// Power loss: W and B restart (A fails for good).
		c.net.packets = nil
		c.restartLikeRecover(t, 2, c.journals[2].commitMax)
		c.restartLikeRecover(t, 1, c.journals[1].commitMax)
		t.Logf("B restarted: op %d commit_max %d withholding %v", c.replicas[1].Op(), c.replicas[1].CommitMax(), c.replicas[1].Rejoining())
		t.Logf("W restarted again: op %d, withholding %v", c.replicas[2].Op(), c.replicas[2].Rejoining())
		// A fails for good.
		c.down[0] = true
		cut0 := func(p *packet, h *wire.Header) bool { return p.toReplica == 0 || p.from == 0 }
		c.dropPackets(cut0)
		if i := c.primaryAbove(3, 50_000, cut0); i >= 0 {
			r := c.replicas[i]
			e := r.ring.get(k)
			if r.Op() < k+1 || e == nil || e.header.Checksum != hk.Checksum {
				t.Fatalf("view %d started by replica %d at op %d: committed ops %d..%d lost: %s", r.View(), i, r.Op(), k, k+1, c.describe())
			}
			t.Logf("view %d started by %d at op %d", r.View(), i, r.Op())
			return
		}
		t.Logf("no view started (safe): %s", c.describe())
	})
}
