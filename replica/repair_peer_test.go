package replica

import "testing"

// TestRepairPeerRotatesByRound: whatever the op, the replicas asked for it
// in ReplicaCount consecutive repair rounds are every peer. The turn used
// to be the tick, and rounds come every 10 ticks: with 5 replicas every
// round asked the same peer for the same op (seed 32112 of 5 replicas: a
// new primary asked two replicas that lacked ops 191 and 193 for good).
func TestRepairPeerRotatesByRound(t *testing.T) {
	for _, n := range []uint8{2, 3, 4, 5} {
		for self := uint8(0); self < n; self++ {
			r := &Replica{cfg: Config{ReplicaCount: n, Replica: self}}
			for op := uint64(1); op <= 20; op++ {
				asked := map[uint8]bool{}
				for round := 0; round < int(n); round++ {
					r.repairTurn++ // as requestPrepares does each round
					to := r.repairPeer(op)
					if to == self || to >= n {
						t.Fatalf("%d replicas, replica %d: asked %d for op %d", n, self, to, op)
					}
					asked[to] = true
				}
				if len(asked) != int(n)-1 {
					t.Fatalf("%d replicas, replica %d: op %d asked of %v in %d rounds, not every peer", n, self, op, asked, n)
				}
			}
		}
	}
}
