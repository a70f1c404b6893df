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
