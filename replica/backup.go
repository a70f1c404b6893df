package replica

import (
	"github.com/chronon-db/chronon/internal/invariants"
	"github.com/chronon-db/chronon/wire"
)

// onPrepare journals the next op of the hash chain (VR Revisited §4.1 step
// 3) and learns the primary's commit number.
//
// A prepare of an earlier view is accepted only as repair: when it extends
// this replica's hash chain, its checksum proves it is the op that follows.
func (r *Replica) onPrepare(m *wire.Message, h *wire.Header) {
	invariants.Assert(h.Command == wire.CommandPrepare && m.Refs() > 0, "replica: onPrepare of something else than a held prepare")
	if r.status == StatusViewChange && r.vc.installing {
		r.onInstallPrepare(m, h)
		return
	}
	if r.status == StatusViewChange && r.rejoin.damaged {
		r.onDamagedRepairPrepare(m, h)
		return
	}
	if r.status != StatusNormal || h.View > r.view || r.IsPrimary() ||
		(h.View == r.view && h.Replica != r.primaryIndex()) {
		r.Counters.DropWrongView++
		return
	}
	invariants.Assert(r.logView == r.view && !r.vc.installing, "replica: a normal backup not in the view it installed")
	if h.View == r.view {
		r.lastPrimaryTick = r.tick
		if h.Op > r.knownOp {
			r.knownOp = h.Op
		}
	} else if !r.canonical(h) {
		// A prepare of an older view is only taken as the op its canonical
		// header names (repair), never on its chain alone.
		r.Counters.DropWrongView++
		return
	}
	if h.Operation == wire.OperationRoot {
		r.Counters.DropUnexpected++
		return
	}
	if r.needsCheckpoint() {
		// Ops at or below the checkpoint it lost cannot be journaled;
		// the checkpoint comes first (state sync).
		r.Counters.DropUnexpected++
		r.learnCommit(h.Commit)
		return
	}
	switch {
	case h.Op <= r.op:
		// A retransmission: acknowledge again if we hold it durably, or if
		// it is committed here already (then a quorum holds it anyway).
		if e := r.ring.get(h.Op); e != nil && e.header.Checksum == h.Checksum && e.written {
			r.sendPrepareOK(&e.header)
		} else if e == nil && h.Op <= r.commitMin && r.canonical(h) {
			r.sendPrepareOK(h)
		}
	case h.Op > r.op+1:
		// A gap: requestMissingPrepares fetches the ops in between; this
		// one waits, if it fits, until its parent arrives.
		if !r.future.put(m, h, r.commitMin) {
			r.Counters.DropGap++
		}
		r.assertPinned()
	case h.Parent != r.head:
		r.Counters.DropBrokenChain++
	case r.ring.full():
		r.Counters.DropRingFull++
	case !r.canWrite():
		// The journal has JournalWritesMax writes in flight (a burst of
		// prepares, e.g. after the process was paused): the prepare waits
		// in the future buffer until a write completes (appendFuture).
		if !r.future.put(m, h, r.commitMin) {
			r.Counters.DropJournalBusy++
		}
		r.assertPinned()
	default:
		invariants.Assert(h.Op > r.commitMin && !r.needsCheckpoint(), "replica: backup appends a committed op, or below its lost checkpoint")
		r.appendPrepare(m.Ref(), h)
		r.appendFuture()
	}
	r.learnCommit(h.Commit)
	invariants.Assert(r.commitMin <= r.commitMax && r.commitMin <= r.op, "replica: backup's commit numbers out of order")
}

// appendFuture appends the buffered prepares that now extend the log, as
// far as the ring and the journal's write slots allow.
func (r *Replica) appendFuture() {
	invariants.Assert(r.status == StatusNormal && !r.IsPrimary(), "replica: buffered prepares appended off a normal backup")
	for !r.ring.full() && r.canWrite() && !r.needsCheckpoint() {
		m, h := r.future.take(r.op+1, r.head)
		if m == nil {
			return
		}
		invariants.Assert(h.Op == r.op+1 && h.Parent == r.head, "replica: future buffer handed over a prepare that does not extend the log")
		if h.View != r.view && !r.canonical(h) {
			m.Unref() // buffered in another view: not proven part of this log
			return
		}
		r.appendPrepare(m, h)
	}
}

// OnPrepareWritten is the journal's completion for WritePrepare(m): the
// prepare is durable in this replica's WAL. A backup acknowledges it to the
// primary; the primary counts its own write towards the quorum.
func (r *Replica) OnPrepareWritten(m *wire.Message) {
	if r.writes == 0 {
		panic("replica: completion of a journal write that was not started")
	}
	r.writes--
	var h wire.Header
	h.Decode(m.Buffer[:wire.HeaderSize])
	invariants.Assert(h.Command == wire.CommandPrepare && h.Op > 0, "replica: journal completed a write of something else than a prepare")
	if e := r.ring.get(h.Op); e != nil && e.header.Checksum == h.Checksum {
		invariants.Assert(e.msg == m || e.header == h, "replica: written prepare differs from its ring entry")
		e.written = true
		if r.status != StatusNormal {
			r.maybeWholeAgain()
			return // a view change counts it when it installs the log
		}
		if r.IsPrimary() {
			e.oks |= 1 << r.cfg.Replica
			r.commitPipeline()
			return
		}
		r.sendPrepareOK(&e.header)
		r.commitBackup()
	}
	// Otherwise committed (the quorum did not need us) or no longer in the
	// log. Either way a write slot is free: a backup appends what waited.
	if r.status == StatusNormal && !r.IsPrimary() {
		r.appendFuture()
	}
}

func (r *Replica) sendPrepareOK(prepare *wire.Header) {
	invariants.Assert(r.status == StatusNormal && !r.IsPrimary(), "replica: prepare_ok sent off a normal backup")
	invariants.Assert(prepare.Command == wire.CommandPrepare && prepare.Op > 0 && prepare.View <= r.view, "replica: prepare_ok for something else than a prepare of this view or an older one")
	if invariants.Enabled {
		// Only what this backup holds durably, or has committed, is
		// acknowledged: a quorum of acks is what makes an op survive.
		e := r.ring.get(prepare.Op)
		invariants.Assert((e != nil && e.written && e.header.Checksum == prepare.Checksum) ||
			(e == nil && prepare.Op <= r.commitMin), "replica: prepare_ok for a prepare not durable here")
	}
	if r.rejoin.damaged {
		// Its damaged votes must cover what it acknowledges.
		r.rejoin.maybeAcked = max(r.rejoin.maybeAcked, prepare.Op)
	}
	h := wire.Header{
		Cluster:  r.cfg.Cluster,
		Size:     wire.HeaderSize,
		View:     r.view,
		Protocol: wire.ProtocolVersion,
		Command:  wire.CommandPrepareOK,
		Replica:  r.cfg.Replica,
		Op:       prepare.Op,
		Commit:   r.commitMin,
		Parent:   prepare.Parent,
		Context:  prepare.Checksum,
	}
	r.sendHeaderOnly(r.primaryIndex(), &h)
}

// onCommit learns commit_max and the primary's op from its heartbeat.
func (r *Replica) onCommit(h *wire.Header) {
	if r.status != StatusNormal || h.View != r.view || r.IsPrimary() || h.Replica != r.primaryIndex() {
		r.Counters.DropWrongView++
		return
	}
	invariants.Assert(r.logView == r.view && !r.vc.installing, "replica: a normal backup not in the view it installed")
	r.lastPrimaryTick = r.tick
	if h.Op > r.knownOp {
		r.knownOp = h.Op
	}
	r.learnRejoinTarget(h.Op, false)
	r.learnCommit(h.Commit)
	invariants.Assert(r.knownOp >= h.Op && r.commitMax >= h.Commit, "replica: commit heartbeat not learned")
}

// onInstallPrepare takes a repaired prepare on the new primary while it
// installs the log it chose.
func (r *Replica) onInstallPrepare(m *wire.Message, h *wire.Header) {
	invariants.Assert(r.status == StatusViewChange && r.vc.installing && r.IsPrimary(), "replica: installing prepare off a new primary")
	if h.Op != r.op+1 || h.Parent != r.head || r.ring.full() || r.needsCheckpoint() {
		r.Counters.DropGap++
		return
	}
	if !r.canWrite() {
		r.Counters.DropJournalBusy++ // repair asks again
		return
	}
	if !r.canonical(h) {
		r.Counters.DropBrokenChain++
		return
	}
	r.appendPrepare(m.Ref(), h)
	invariants.Assert(r.op <= r.logOp && r.commitMin <= r.op, "replica: installed op beyond the log head")
	r.vc.started = r.tick // progress: the view change is not stuck
	r.continueInstall()
}

func (r *Replica) learnCommit(commit uint64) {
	invariants.Assert(!r.IsPrimary() || r.status != StatusNormal, "replica: a normal primary learns commit numbers from a peer")
	if commit > r.commitMax {
		r.commitMax = commit
	}
	if commit > r.knownOp {
		r.knownOp = commit
	}
	invariants.Assert(r.commitMax >= commit && r.knownOp >= commit && r.commitMax >= r.commitMin, "replica: commit number learned went back")
	r.commitBackup()
}

// commitBackup applies, in order, the ops the primary reported committed
// that this backup holds.
func (r *Replica) commitBackup() {
	invariants.Assert(r.status != StatusRecovering, "replica: commit while probing peers")
	for r.commitMin < r.commitMax {
		e := r.ring.get(r.commitMin + 1)
		if e == nil {
			// Not received yet; the primary retransmits it. (Repair from
			// peers and the journal is part of the view-change work.)
			invariants.Assert(r.op == r.commitMin, "replica: the op after commit_min missing from a non-empty ring")
			return
		}
		if !r.commitOne(e) {
			return
		}
	}
}
