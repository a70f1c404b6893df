package replica

import (
	"testing"

	"github.com/chronon-db/chronon/wire"
)

// TestWithholdingReplicaStaysWithholdingFiveReplicas (safety guard, from
// the review of a durable-view-headers attempt, branch wip/view-headers):
// A=0 primary, B=1, W=2, X=3, D=4. Ops k, k+1 commit with acks of A, W, X
// (B and D get no prepares). W restarts with prepare k rotted (withholds).
// A fails. View 3 (primary X) starts with votes of X, B, D; B, D, W install
// its start_view without fetching k... Power loss: B, D, W, X restart; X is
// slow. No view may start without k and k+1 (stalling is fine: W lost what
// it acknowledged). The attempt let W and the others vote and lost them.
func TestWithholdingReplicaStaysWithholdingFiveReplicas(t *testing.T) {
	votingModes(t, func(t *testing.T, damagedVotes bool) {
		c := newCluster(t, 17, 5, 1, 10)
		c.run(50_000)
		rA := c.replicas[0]
		committed := rA.CommitMin()
		if committed == 0 || rA.View() != 0 {
			t.Fatalf("setup: %s", c.describe())
		}
		k := committed + 1
		c.clients[0].count += 2
		c.clients[0].done = false
		for s := 0; s < 5_000 && !(rA.CommitMin() >= k+1 && c.journals[2].stored[k+1] != nil && c.journals[3].stored[k+1] != nil); s++ {
			c.step()
			c.dropPackets(noPreparesTo(1, 4))
		}
		if rA.CommitMin() < k+1 || c.replicas[1].Op() >= k || c.replicas[4].Op() >= k {
			t.Fatalf("setup ops %d,%d: %s", k, k+1, c.describe())
		}
		// W restarts with prepare k rotted: it withholds its vote.
		hk := c.restartWithRottedPrepare(t, 2, k, damagedVotes)
		c.down[0] = true
		cut0 := func(p *packet, h *wire.Header) bool { return p.toReplica == 0 || p.from == 0 }
		c.dropPackets(cut0)
		c.replicas[3].startViewChange(3)
		installed := func() bool {
			for i := 1; i < 5; i++ {
				r := c.replicas[i]
				if r.View() != 3 || r.LogView() != 3 || r.Status() != StatusNormal {
					return false
				}
			}
			return true
		}
		for s := 0; s < 5_000 && !installed(); s++ {
			c.step()
			c.dropPackets(cut0)
			c.dropPackets(noPreparesTo(1, 2, 4))
		}
		if !installed() {
			t.Fatalf("setup view 3: %s", c.describe())
		}
		for _, i := range []int{1, 2, 4} {
			t.Logf("view 3: replica %d op %d log head %d withholding %v", i, c.replicas[i].Op(), c.journals[i].logOp, c.replicas[i].Rejoining())
		}
		c.net.packets = nil
		for _, i := range []int{1, 2, 4} {
			c.restartLikeRecover(t, i, c.journals[i].commitMax)
			t.Logf("restarted %d: op %d commit_max %d withholding %v", i, c.replicas[i].Op(), c.replicas[i].CommitMax(), c.replicas[i].Rejoining())
		}
		c.down[3] = true // X is slow to come back
		cut := func(p *packet, h *wire.Header) bool {
			return p.toReplica == 0 || p.from == 0 || p.toReplica == 3 || p.from == 3
		}
		if i := c.primaryAbove(3, 50_000, cut); i >= 0 {
			r := c.replicas[i]
			e := r.ring.get(k)
			if r.Op() < k+1 || e == nil || e.header.Checksum != hk.Checksum {
				t.Fatalf("view %d started by replica %d at op %d: committed ops %d..%d lost", r.View(), i, r.Op(), k, k+1)
			}
			t.Logf("view %d started by %d at op %d", r.View(), i, r.Op())
			return
		}
		t.Logf("no view started (safe)")
	})
}
