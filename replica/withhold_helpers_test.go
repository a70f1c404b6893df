package replica

import (
	"testing"

	"github.com/chronon-db/chronon/wire"
)

// noPreparesTo is a packet filter dropping prepares to the given replicas.
func noPreparesTo(who ...int) func(p *packet, h *wire.Header) bool {
	return func(p *packet, h *wire.Header) bool {
		for _, w := range who {
			if p.toReplica == w && h.Command == wire.CommandPrepare {
				return true
			}
		}
		return false
	}
}

// restartWithRottedPrepare restarts replica i after its durable prepare of
// op k rotted, as persist.Recover does it (the journal names op k but
// cannot provide it: the replica withholds its vote), and returns k's
// header.
func (c *cluster) restartWithRottedPrepare(t *testing.T, i int, k uint64) wire.Header {
	t.Helper()
	j := c.journals[i]
	var h wire.Header
	h.Decode(j.stored[k])
	delete(j.stored, k)
	delete(j.written, k)
	c.restartLikeRecover(t, i, j.commitMax)
	c.replicas[i].WithholdVotesUntilCaughtUp()
	return h
}
