package replica

import (
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
