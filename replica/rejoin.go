package replica

import (
	"errors"
	"fmt"
	"math/bits"

	"github.com/chronon-db/chronon/internal/invariants"
	"github.com/chronon-db/chronon/wire"
)

// A replica whose data file was lost and replaced by a freshly formatted
// one (`chronon format --rejoin`) knows nothing of what its previous
// incarnation did: which ops it acknowledged, which views it voted for and
// so promised not to act in older ones. Acting as if it had not — voting
// in a view change with an empty log, or acknowledging the prepares of a
// primary of a view its previous incarnation had left — can lose committed
// ops (the classic VSR recovery hazard). So a rejoining replica, as in the
// recovery protocol of VR Revisited (§4.3):
//
//  1. Probes. It sends a ping carrying a random nonce to every peer and
//     handles nothing but the pongs that echo it, until it has heard from
//     N − quorum + 1 distinct peers. Any view its previous incarnation took
//     part in was started by a quorum that made the view durable, so at
//     least one of those peers is in that view or a later one: the highest
//     view heard, v*, is at least every view the previous incarnation knew.
//  2. Joins view v* or later only: it starts a view change to v* (the
//     primary of v*, if normal, answers with start_view), never votes
//     (do_view_change is withheld; as a primary-elect it cannot install a
//     log, so that view change times out and moves on), does not answer
//     request_headers, and acknowledges prepares of its views as usual
//     (a promise about what it holds now, in a view its previous
//     incarnation never left for a later one).
//  3. Catches up. Its target is the op of the primary of its view, from the
//     start_view it installs (reset by the start_view of every later view,
//     each started without its vote and so holding every op that could
//     have committed) or, failing that, the first commit heartbeat. Once
//     it has committed the target (state sync included) it records the end
//     of rejoining durably (Journal.PersistRejoined) and votes again.
type rejoinState struct {
	active  bool
	durable bool // the data file says so (format --rejoin): clear it at the end
	probing bool
	nonce   wire.Uint128
	heard   uint64 // peers whose pong echoed the nonce
	viewMax uint32 // highest view among them
	probed  uint64 // tick of the last probe
	// withheldView is the last view whose vote was withheld (counted once).
	withheldView uint32
	targetSet    bool
	targetView   uint32
	target       uint64 // commit up to here before voting again
	// damaged: the replica's own journal is damaged but bounded (see
	// voteDamagedUntilCaughtUp): it sends damaged votes instead of none.
	damaged bool
	// maybeAcked is, while damaged, the highest op this replica may have
	// acknowledged (a running maximum).
	maybeAcked uint64
}

// ErrRejoin means a replica cannot rejoin: a single replica has no peers.
var ErrRejoin = errors.New("replica: cannot rejoin")

// startRejoining marks the replica as replacing one whose data file was
// lost (Recovered.Rejoining). Recover calls it last, before the replica
// serves: the replica probes its peers before taking part in anything.
func (r *Replica) startRejoining() error {
	if r.cfg.ReplicaCount == 1 {
		return fmt.Errorf("%w: a single replica has no peers to catch up from", ErrRejoin)
	}
	r.dropPrimaryWork()
	invariants.Assert(r.requests.empty() && r.future.count == 0, "replica: rejoining with queued requests or buffered prepares")
	r.rejoin = rejoinState{active: true, durable: true, probing: true,
		nonce: wire.Uint128{Lo: r.rng.Uint64() | 1, Hi: r.rng.Uint64()}}
	r.status = StatusRecovering
	invariants.Assert(r.rejoin.active && r.rejoin.probing && !r.rejoin.nonce.IsZero(), "replica: rejoining without a probe nonce")
	r.probe()
	return nil
}

// withholdVotesUntilCaughtUp is for a replica whose journal, at restart,
// holds less than it may have acknowledged: a slot that is corrupt, torn
// or misdirected below ops it holds, a broken chain, or ops it could not
// load. Voting with the shorter log could drop ops committed with its
// acks. Its superblock is intact, so it knows its views: it skips the
// probe but otherwise behaves as a rejoining replica (steps 2 and 3 of
// startRejoining) until it has caught up. Nothing is persisted: after
// another restart the journal says again whether it is whole.
func (r *Replica) withholdVotesUntilCaughtUp() {
	if r.cfg.ReplicaCount == 1 {
		return
	}
	if r.rejoin.active {
		r.rejoin.damaged = false // withholding is the stronger of the two
		return
	}
	r.rejoin = rejoinState{active: true}
	invariants.Assert(!r.rejoin.damaged && !r.rejoin.probing, "replica: withheld votes marked damaged or probing")
}

// voteDamagedUntilCaughtUp is withholdVotesUntilCaughtUp for a journal
// whose damage is bounded: every op this replica may have acknowledged is
// at most maybeAcked (the highest op its journal names, or the log head
// recorded with log_view if higher; no slot of unknown op, no op cut as
// never acknowledged). Until it has caught up it sends damaged votes
// (docs/replica.md, "Damaged journals vote"): they count toward a view
// change's quorum and block the truncation of every op up to maybeAcked
// that it does not hold, but never supply the new log, and a damaged
// primary-elect does not install one. commitMax is the commit number the
// journal's prepares carry (at most maybeAcked). A replica already
// withholding keeps withholding.
func (r *Replica) voteDamagedUntilCaughtUp(maybeAcked, commitMax uint64) {
	if r.cfg.ReplicaCount == 1 || r.rejoin.active {
		return
	}
	if maybeAcked == 0 || maybeAcked < r.op || maybeAcked < r.logOp {
		panic(fmt.Sprintf("replica: damaged journal bound %d below the log it loaded (op %d, log head %d)", maybeAcked, r.op, r.logOp))
	}
	r.rejoin = rejoinState{active: true, damaged: true, maybeAcked: maybeAcked}
	r.commitMax = max(r.commitMax, min(commitMax, maybeAcked))
	r.knownOp = max(r.knownOp, r.commitMax)
	invariants.Assert(r.commitMin <= r.commitMax && r.commitMax <= max(maybeAcked, r.commitMin), "replica: damaged commit number beyond its bound")
}

// damagedBound returns, while the replica sends damaged votes, the highest
// op it may have acknowledged: what its journal named at restart and every
// op it has held or stood for since (ops acknowledged after the restart
// are in its log until a view change truncates them).
func (r *Replica) damagedBound() uint64 {
	invariants.Assert(r.rejoin.active && r.rejoin.damaged, "replica: damaged bound of a whole replica")
	r.rejoin.maybeAcked = max(r.rejoin.maybeAcked, r.op, r.logOp)
	if r.logHeadView == r.logView {
		// The head of the log it stands for at its log_view, even when a
		// state sync cut its log below it (standsForLogView).
		r.rejoin.maybeAcked = max(r.rejoin.maybeAcked, r.logHead)
	}
	if invariants.Enabled {
		invariants.Assert(r.rejoin.maybeAcked >= r.op && r.rejoin.maybeAcked >= r.logOp, "replica: damaged bound below the log")
	}
	return r.rejoin.maybeAcked
}

// Rejoining reports whether the replica is still rejoining (see
// startRejoining): it does not vote in view changes yet.
func (r *Replica) Rejoining() bool { return r.rejoin.active }

// probesNeeded is how many distinct peers must answer the probe:
// N − quorum + 1, so that the answers intersect every quorum that started
// a view.
func (r *Replica) probesNeeded() int {
	n := int(r.cfg.ReplicaCount) - r.cfg.quorum() + 1
	invariants.Assert(n >= 1 && n <= int(r.cfg.ReplicaCount), "replica: probes needed out of range")
	return n
}

// probe pings every peer with the rejoin nonce.
func (r *Replica) probe() {
	invariants.Assert(r.status == StatusRecovering && r.rejoin.probing, "replica: probe outside rejoining")
	invariants.Assert(r.rejoin.heard&(1<<r.cfg.Replica) == 0, "replica: a probe answered by itself")
	r.rejoin.probed = r.tick
	for i := uint8(0); i < r.cfg.ReplicaCount; i++ {
		if i == r.cfg.Replica || r.rejoin.heard&(1<<i) != 0 {
			continue
		}
		h := r.header(wire.CommandPing)
		h.Context = r.rejoin.nonce
		h.Timestamp = r.tick + 1
		r.sendHeaderOnly(i, &h)
	}
}

// tickProbe resends the probe to peers that have not answered.
func (r *Replica) tickProbe() {
	invariants.Assert(r.status == StatusRecovering && r.tick >= r.rejoin.probed, "replica: probe ticked outside recovering")
	if r.rejoin.probing && r.tick-r.rejoin.probed >= r.cfg.CommitTimeoutTicks {
		r.probe()
	}
}

// onMessageProbing is OnMessage while probing: only pongs to the probe.
func (r *Replica) onMessageProbing(h *wire.Header) {
	if h.Command != wire.CommandPong || h.Context != r.rejoin.nonce || h.Replica == r.cfg.Replica || h.Replica >= r.cfg.ReplicaCount {
		r.Counters.DropRejoining++
		return
	}
	r.rejoin.heard |= 1 << h.Replica
	invariants.Assert(r.rejoin.heard>>r.cfg.ReplicaCount == 0 && r.rejoin.heard&(1<<r.cfg.Replica) == 0, "replica: probe answers of itself or replicas out of range")
	r.rejoin.viewMax = max(r.rejoin.viewMax, h.View)
	if bits.OnesCount64(r.rejoin.heard) < r.probesNeeded() {
		return
	}
	r.rejoin.probing = false
	r.startViewChange(max(r.view, r.rejoin.viewMax))
	invariants.Assert(r.status == StatusViewChange && r.view >= r.rejoin.viewMax, "replica: probing ended outside a view change at the views heard")
}

// onPing answers a peer's probe with this replica's view. A replica that
// is probing itself does not answer: its view says nothing yet.
func (r *Replica) onPing(h *wire.Header) {
	if h.Context.IsZero() || h.Replica == r.cfg.Replica {
		return // the bus's connection hello
	}
	p := r.header(wire.CommandPong)
	p.Context, p.Timestamp = h.Context, h.Timestamp
	r.sendHeaderOnly(h.Replica, &p)
}

// withholdVote counts a do_view_change not sent while rejoining, once per
// view.
func (r *Replica) withholdVote() {
	invariants.Assert(r.status == StatusViewChange, "replica: vote withheld outside a view change")
	invariants.Assert(r.rejoin.active || !r.standsForLogView(), "replica: vote withheld by a replica that may vote")
	if r.rejoin.withheldView != r.view || r.Counters.VotesWithheld == 0 {
		r.rejoin.withheldView = r.view
		r.Counters.VotesWithheld++
	}
}

// learnRejoinTarget records the op a rejoining replica must commit before
// voting again: from every start_view (a view started without its vote)
// and, when none told it yet, from the first commit heartbeat of its view.
func (r *Replica) learnRejoinTarget(primaryOp uint64, fromStartView bool) {
	j := &r.rejoin
	if !j.active || j.probing {
		return
	}
	if fromStartView || !j.targetSet || r.view > j.targetView {
		j.target, j.targetSet, j.targetView = primaryOp, true, r.view
	}
	invariants.Assert(j.targetSet && j.targetView <= r.view, "replica: rejoin target of a later view")
}

// tickRejoin ends rejoining once the target is committed, durably first.
func (r *Replica) tickRejoin() {
	if !r.rejoin.active || r.rejoin.probing || !r.rejoin.targetSet || r.status != StatusNormal || r.commitMin < r.rejoin.target {
		return
	}
	invariants.Assert(!r.IsPrimary() && r.commitMin >= r.rejoin.target, "replica: rejoined before catching up")
	if r.rejoin.durable {
		if err := r.journal.PersistRejoined(); err != nil {
			panic(fmt.Sprintf("replica: persisting the end of rejoining failed: %v", err))
		}
	}
	r.rejoin = rejoinState{}
	r.Counters.Rejoined++
}
