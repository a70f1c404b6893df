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
// op k rotted, as Recover does it (the journal names op k but
// cannot provide it), and returns k's header. The replica withholds its
// vote, or with damagedVotes sends damaged votes bounded by what its
// journal names (Recover's choice for such damage).
func (c *cluster) restartWithRottedPrepare(t *testing.T, i int, k uint64, damagedVotes bool) wire.Header {
	t.Helper()
	if damagedVotes {
		return c.restartDamaged(t, i, k)[0]
	}
	j := c.journals[i]
	var h wire.Header
	h.Decode(j.stored[k])
	delete(j.stored, k)
	delete(j.written, k)
	c.restartLikeRecover(t, i, j.commitMax)
	c.replicas[i].withholdVotesUntilCaughtUp()
	return h
}

// votingModes runs f once with a withholding damaged replica and once with
// one that sends damaged votes.
func votingModes(t *testing.T, f func(t *testing.T, damagedVotes bool)) {
	t.Run("withholding", func(t *testing.T) { f(t, false) })
	t.Run("damaged votes", func(t *testing.T) { f(t, true) })
}

// primaryAbove steps the cluster (dropping what drop matches, if not nil)
// at most ticks times, until a replica is primary with status normal in a
// view above v, and returns its index; -1 if none got there.
func (c *cluster) primaryAbove(v uint32, ticks int, drop func(p *packet, h *wire.Header) bool) int {
	for s := 0; s < ticks; s++ {
		c.step()
		if drop != nil {
			c.dropPackets(drop)
		}
		for i, r := range c.replicas {
			if !c.down[i] && r.Status() == StatusNormal && r.IsPrimary() && r.View() > v {
				return i
			}
		}
	}
	return -1
}

// withholding counts the replicas that withhold their view-change votes.
func (c *cluster) withholding() int {
	n := 0
	for _, r := range c.replicas {
		if r.Rejoining() {
			n++
		}
	}
	return n
}
