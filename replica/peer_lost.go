package replica

import "github.com/chronon-db/chronon/internal/invariants"

// primaryLoss is a backup's record that the connection to its primary was
// lost: a strong hint (a killed process's sockets close at once) that lets
// it start a view change after Config.PrimaryLostTimeoutTicks instead of the
// full normal timeout.
type primaryLoss struct {
	active bool
	view   uint32
	tick   uint64
}

// OnPeerLost tells the replica that its connection to replica peer closed
// (the node learns it from the bus). It is an input
// like a message: the replica stays a deterministic function of its inputs
// and ticks. A backup in status normal that loses its primary suspects it
// after Config.PrimaryLostTimeoutTicks unless it hears from it again in
// the meantime (a dropped connection to a live primary is redialled and
// its next commit heartbeat cancels the suspicion).
func (r *Replica) OnPeerLost(peer uint8) {
	invariants.Assert(peer < r.cfg.ReplicaCount, "replica: lost a peer out of range")
	if r.cfg.PrimaryLostTimeoutTicks == 0 || r.status != StatusNormal || r.IsPrimary() || peer != r.primaryIndex() {
		return
	}
	if r.lost.active && r.lost.view == r.view {
		return // the first loss counts
	}
	r.lost = primaryLoss{active: true, view: r.view, tick: r.tick}
	invariants.Assert(r.cfg.ReplicaCount > 1 && r.logView == r.view, "replica: primary lost by a replica alone, or outside the view it installed")
	r.Counters.PrimaryLost++
}

// primaryLostTimedOut reports whether a lost primary has stayed silent for
// PrimaryLostTimeoutTicks. Hearing from the primary after the loss (a later
// tick than the loss's) or a new view clears the loss.
func (r *Replica) primaryLostTimedOut() bool {
	if !r.lost.active {
		return false
	}
	invariants.Assert(r.status == StatusNormal && !r.IsPrimary(), "replica: lost primary timed off a normal backup")
	if r.lost.view != r.view || r.lastPrimaryTick > r.lost.tick {
		r.lost.active = false
		return false
	}
	invariants.Assert(r.tick >= r.lost.tick && r.lost.view == r.view, "replica: primary lost in the future")
	return r.tick-r.lost.tick >= r.cfg.PrimaryLostTimeoutTicks
}
