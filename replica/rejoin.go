package replica

import (
	"errors"
	"fmt"
)

// A replica whose data file was lost and replaced by a freshly formatted
// one (`chronon format --rejoin`) knows nothing of what its previous
// incarnation acknowledged. If it voted in a view change with its empty
// log, a committed op held only by it and a replica that is down could be
// left out of the new view: the classic VSR recovery hazard. So a rejoining
// replica
//
//   - never sends do_view_change (it can still start and join view
//     changes, and as the new view's primary it cannot install a log, since
//     that needs its own vote: the view change times out and moves on);
//   - does not lead its stale view after a restart;
//   - acknowledges prepares as usual: a prepare_ok is a promise about what
//     this replica holds now, which is true;
//   - stops rejoining once it has committed up to the op the primary of its
//     current view had when it first heard from it (from a commit heartbeat
//     or a start_view). Every op its previous incarnation could have
//     acknowledged is at or below that op: either that view started after
//     the loss, from a quorum of votes that did not include this replica
//     (so it holds every op that could have committed), or it is the view
//     in which the previous incarnation acknowledged, whose primary
//     prepared those ops. Then it records the end of rejoining durably
//     (Journal.PersistRejoined) and votes again.
type rejoinState struct {
	active    bool
	targetSet bool
	target    uint64 // commit up to here before voting again
}

// ErrRejoin means a replica cannot rejoin: a single replica has no peers.
var ErrRejoin = errors.New("replica: cannot rejoin")

// StartRejoining marks the replica as replacing one whose data file was
// lost (the data file says so). Call it at start-up after recovery from
// the journal, before serving. A replica that would lead its current view
// starts a view change instead.
func (r *Replica) StartRejoining() error {
	if r.cfg.ReplicaCount == 1 {
		return fmt.Errorf("%w: a single replica has no peers to catch up from", ErrRejoin)
	}
	r.rejoin = rejoinState{active: true}
	if r.status == StatusNormal && r.IsPrimary() {
		r.startViewChange(r.view + 1)
	}
	return nil
}

// Rejoining reports whether the replica is still rejoining (see
// StartRejoining): it does not vote in view changes yet.
func (r *Replica) Rejoining() bool { return r.rejoin.active }

// learnRejoinTarget records, the first time a rejoining replica hears the
// primary of its view say how far its log goes, the op it must commit up
// to before voting again.
func (r *Replica) learnRejoinTarget(primaryOp uint64) {
	if r.rejoin.active && !r.rejoin.targetSet {
		r.rejoin.target, r.rejoin.targetSet = primaryOp, true
	}
}

// tickRejoin ends rejoining once the target is committed, durably first.
func (r *Replica) tickRejoin() {
	if !r.rejoin.active || !r.rejoin.targetSet || r.status != StatusNormal || r.commitMin < r.rejoin.target {
		return
	}
	if err := r.journal.PersistRejoined(); err != nil {
		panic(fmt.Sprintf("replica: persisting the end of rejoining failed: %v", err))
	}
	r.rejoin = rejoinState{}
	r.Counters.Rejoined++
}
