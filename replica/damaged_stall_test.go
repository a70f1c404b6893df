package replica

import (
	"testing"

	"github.com/chronon-db/chronon/wire"
)

// restartDamaged restarts replica i after the durable prepares of ops
// rotted under their intact redundant headers, as Recover does it:
// the journal names each op (its header survives) but cannot provide it.
// It returns the rotted ops' headers.
func (c *cluster) restartDamaged(t *testing.T, i int, ops ...uint64) []wire.Header {
	t.Helper()
	j := c.journals[i]
	hs := make([]wire.Header, len(ops))
	for n, k := range ops {
		hs[n].Decode(j.stored[k])
		delete(j.stored, k)
		delete(j.written, k)
	}
	bound := j.logOp
	for op := range j.stored {
		bound = max(bound, op)
	}
	for _, k := range ops {
		bound = max(bound, k)
	}
	c.restartLikeRecover(t, i, j.commitMax)
	r := c.replicas[i]
	if r.Rejoining() {
		// Damaged already: its journal ends below the recorded log head.
		if !r.rejoin.damaged {
			t.Fatalf("replica %d: withholding", i)
		}
		r.rejoin.maybeAcked = max(r.rejoin.maybeAcked, bound)
		return hs
	}
	r.voteDamagedUntilCaughtUp(bound, j.commitMax)
	return hs
}

// TestDamagedReplicasAfterClusterRestart (liveness, issue 11): 3 replicas
// commit ops; the whole cluster loses power; replicas 1 and 2 each find a
// committed prepare rotted (different ops, or the same op), replica 0 is
// intact and holds every op. Replicas 1 and 2 must not vote as if they
// never held what they lost, but the intact replica holds all of it: a view
// must start, with every committed op and the rotted ones as they were.
func TestDamagedReplicasAfterClusterRestart(t *testing.T) {
	for _, tc := range []struct {
		name   string
		k1, k2 uint64 // ops rotted on replicas 1 and 2, counted back from the head
	}{
		{"different ops", 3, 1},
		{"same op", 2, 2},
		{"head op", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, 61, 3, 2, 10)
			c.run(50_000)
			committed := c.replicas[0].CommitMin()
			if committed < 5 || c.replicas[1].Op() != committed || c.replicas[2].Op() != committed {
				t.Fatalf("setup: %s", c.describe())
			}
			c.net.packets = nil
			c.restartLikeRecover(t, 0, c.journals[0].commitMax)
			h1 := c.restartDamaged(t, 1, committed-tc.k1)
			h2 := c.restartDamaged(t, 2, committed-tc.k2)
			t.Logf("after the restart: %d of 3 withhold; %s", c.withholding(), c.describe())
			i := c.primaryAbove(c.replicas[0].View(), 60_000, nil)
			if i < 0 {
				t.Fatalf("no view started after a cluster-wide power loss although replica 0 holds every op: %s", c.describe())
			}
			r := c.replicas[i]
			if r.Op() < committed {
				t.Fatalf("view %d started by %d at op %d, below committed op %d: %s", r.View(), i, r.Op(), committed, c.describe())
			}
			for _, h := range []wire.Header{h1[0], h2[0]} {
				if e := r.ring.get(h.Op); e != nil && e.header.Checksum != h.Checksum {
					t.Fatalf("view %d: op %d differs from the committed one", r.View(), h.Op)
				}
			}
			c.run(50_000)
			for i, rr := range c.replicas {
				if rr.CommitMin() < committed {
					t.Fatalf("replica %d committed only %d of %d: %s", i, rr.CommitMin(), committed, c.describe())
				}
			}
		})
	}
}
