package replica

import (
	"fmt"

	"github.com/chronon-db/chronon/internal/invariants"
	"github.com/chronon-db/chronon/wire"
)

// A replica that restarted with a damaged journal (replica.Recover decided VoteDamaged)
// sends damaged votes until it has caught up in a running view. When every
// replica of a cluster restarted damaged (a power loss of the whole
// cluster), no vote is whole and no view can start, for good — although
// the ops each one lacks are often held by another: one lost a prepare in
// the middle of its log that a peer holds, the others only the tail. So a
// damaged replica repairs its own log while views change, as far as the
// headers its journal still names reach:
//
//  1. Recovery hands it the headers its journal names above the op it
//     could load, as far as they chain (learnJournalHeaders): they are its
//     own log at its log_view, so they are canonical for it.
//  2. While in a view change that has already timed out once (a view that
//     can start with damaged votes needs none of this), it fetches those
//     ops by checksum, from its own journal and from every peer
//     (tickDamagedRepair), and appends each one that extends its hash
//     chain and matches its header; ops up to the commit number it knows
//     commit as they arrive.
//  3. Once it holds, durably and without a gap, every op up to the bound
//     of what it may have acknowledged (damagedBound: its journal's
//     highest op, the log head it stands for, everything it has held
//     since), it is whole again: its next do_view_change is a whole vote.
//
// Nothing here acknowledges a prepare or changes its log_view: it only
// restores what its own journal named before the restart.

// learnJournalHeaders gives a damaged replica, at recovery, the headers
// j names above the ops it loaded, up to opMax, in op order from the op
// after its head. They become the canonical headers of its log (which it
// then repairs while views change) as far as they extend its hash chain;
// it returns how many did. A replica that does not send damaged votes
// learns none.
func (r *Replica) learnJournalHeaders(j RecoveryJournal, opMax uint64) int {
	if !r.rejoin.damaged {
		return 0
	}
	invariants.Assert(r.rejoin.active && r.logOp >= r.op, "replica: journal headers learned outside a damaged recovery")
	parent, op := r.head, r.op
	n := 0
	for op < opMax {
		h, ok := j.Header(op + 1)
		if !ok || h.Op != op+1 || h.Parent != parent || h.Command != wire.CommandPrepare {
			break
		}
		r.putLog(&h)
		parent, op = h.Checksum, h.Op
		n++
	}
	if r.logOp < op {
		panic(fmt.Sprintf("replica: log head %d below the journal headers learned (op %d)", r.logOp, op))
	}
	invariants.Assert(uint64(n) == op-r.op, "replica: journal headers learned not contiguous after the head")
	return n
}

// tickDamagedRepair fetches, while a damaged replica is in a view change,
// the next ops of its own log from its journal and from its peers.
func (r *Replica) tickDamagedRepair() {
	if !r.rejoin.damaged || r.vc.attempts == 0 || r.vc.installing || r.logOp <= r.op || r.needsCheckpoint() {
		return
	}
	invariants.Assert(r.status == StatusViewChange && r.rejoin.active, "replica: damaged repair outside a view change")
	last := min(r.logOp, r.op+repairRequestsPerTick, r.commitMin+uint64(len(r.ring.entries)))
	for op := r.op + 1; op <= last; op++ {
		c, ok := r.log.get(op)
		if !ok {
			return // only ops its journal named
		}
		if len(r.reads) < cap(r.reads) {
			if m := r.newMessage(); m != nil {
				r.reads = append(r.reads, pendingRead{msg: m, to: r.cfg.Replica, want: c.Checksum, op: op})
				r.journal.ReadPrepare(op, m)
			}
		}
		for i := uint8(0); i < r.cfg.ReplicaCount; i++ {
			if i != r.cfg.Replica {
				r.sendRequestPrepare(i, op, c.Checksum)
			}
		}
	}
}

// onDamagedRepairPrepare appends, during a view change, a prepare of a
// damaged replica's own log (from its journal or a peer): only the next
// op, only with the checksum its journal named.
func (r *Replica) onDamagedRepairPrepare(m *wire.Message, h *wire.Header) {
	invariants.Assert(r.status == StatusViewChange && r.rejoin.damaged && !r.vc.installing, "replica: damaged repair prepare outside a damaged replica's view change")
	switch {
	case h.Op <= r.op:
		return // already held
	case h.Op != r.op+1 || h.Parent != r.head || !r.canonical(h):
		r.Counters.DropUnexpected++
		return
	case r.ring.full() || !r.canWrite() || r.needsCheckpoint():
		return // asked again next round
	}
	r.appendPrepare(m.Ref(), h)
	invariants.Assert(r.op == h.Op && r.op <= r.logOp, "replica: damaged repair appended beyond its journal's headers")
	r.Counters.DamagedOpsRepaired++
	r.commitBackup()
}

// maybeWholeAgain ends a damaged replica's damaged votes once it holds,
// durably and without a gap, every op it may have acknowledged.
func (r *Replica) maybeWholeAgain() {
	if !r.rejoin.damaged || r.writes > 0 || r.op < r.damagedBound() || !r.standsForLogView() {
		return
	}
	for op := r.commitMin + 1; op <= r.op; op++ {
		if e := r.ring.get(op); e == nil || !e.written {
			panic(fmt.Sprintf("replica: op %d in the log unwritten with no journal write in flight", op))
		}
	}
	invariants.Assert(r.status != StatusNormal && r.rejoin.active, "replica: damaged replica whole again outside a view change")
	r.rejoin = rejoinState{}
	r.Counters.DamageRepaired++
}
