package journal

import (
	"fmt"

	"github.com/chronon-db/chronon/internal/invariants"
	"github.com/chronon-db/chronon/wire"
)

// SlotReport is the recovery verdict for one WAL slot.
type SlotReport struct {
	// Slot is the WAL slot index.
	Slot uint32
	// Header and Prepare are the states of the redundant header and of the
	// prepare as read.
	Header  HeaderState
	Prepare PrepareState
	// Class and Decision are the recovery case and what to do about it.
	Class    Class
	Decision Decision
	// Op, View and Checksum identify the trusted header of the slot: the
	// prepare's for eql/fix, the redundant header's for vsr. Known is false
	// for nil, cut and faulty slots.
	Known    bool
	Op       uint64
	View     uint32
	Checksum wire.Uint128
}

// Repair names one op that recovery could not restore from the local disk
// and that must come from a peer.
type Repair struct {
	Op uint64
	// Checksum is the expected prepare checksum when ChecksumKnown (a valid
	// redundant header names it); otherwise the op's header must be
	// requested first (request_headers).
	Checksum      wire.Uint128
	ChecksumKnown bool
}

// Report is the result of WAL recovery.
type Report struct {
	Slots []SlotReport
	// OpCheckpoint is the superblock's checkpoint op: ops at or below it are
	// in the checkpoint and not needed for replay.
	OpCheckpoint uint64
	// OpMax is the highest op named by a trusted header (at least
	// OpCheckpoint). Every op in (OpCheckpoint, OpMax] is either intact on
	// disk or listed in Repair.
	OpMax uint64
	// Repair lists, in op order, the ops in (OpCheckpoint, OpMax] that are
	// missing or corrupt locally and must be repaired from peers.
	Repair []Repair
	// ChainBreak is the first op in (OpCheckpoint, OpMax] whose parent does
	// not match the previous op's checksum (0: the chain is whole). Ops from
	// there on may belong to an abandoned view and need their headers
	// confirmed by the cluster.
	ChainBreak uint64
	// Truncated lists the ops (valid prepares, never acknowledged) that were
	// cut because they lie beyond a hole above OpHeaderMax; see buildReport.
	Truncated []uint64
	// OpHeaderMax is the highest op named by a valid redundant header.
	OpHeaderMax uint64
	// Faulty lists slots whose op is unknown. While it is not empty, ops
	// above OpMax cannot be declared never-prepared by this replica (no
	// nack); when it is empty, nothing above OpMax was ever acknowledged
	// and the log may be truncated after OpMax.
	Faulty []uint32
	// MisdirectedOpMax is the highest op above OpCheckpoint named by a
	// valid prepare found in another op's slot (0: none): a misdirected
	// prepare write. In HeaderDeferred mode that op may have been
	// acknowledged while its own slot and redundant header kept nothing of
	// it, so it may lie above OpMax.
	MisdirectedOpMax uint64
}

// TruncateSafe reports whether the log may be cut after OpMax on this
// replica's own authority.
func (r *Report) TruncateSafe() bool {
	invariants.Assert(len(r.Faulty) <= len(r.Slots), "journal: more faulty slots than slots")
	return len(r.Faulty) == 0
}

// Count returns how many slots have class c.
func (r *Report) Count(c Class) int {
	invariants.Assert(c <= ClassFaulty, "journal: count of an unknown class")
	n := 0
	for i := range r.Slots {
		if r.Slots[i].Class == c {
			n++
		}
	}
	return n
}

// buildReport builds the report from the classified slots. headers holds,
// per slot, the trusted header (valid when Slots[i].Known); opHeaderMax is
// the highest op a valid redundant header names (eql and vsr slots).
func buildReport(slots []SlotReport, headers []wire.Header, checkpointOp uint64, checkpointSum wire.Uint128, opHeaderMax uint64) (Report, error) {
	invariants.Assert(len(slots) == len(headers) && len(slots) > 0, "journal: recovery over slots and headers of different rings")
	n := uint64(len(slots))
	r := Report{Slots: slots, OpCheckpoint: checkpointOp, OpMax: checkpointOp, OpHeaderMax: opHeaderMax}
	for i := range slots {
		s := &slots[i]
		if s.Decision == DecisionVSR && s.Op <= checkpointOp {
			// A lost or torn prepare write over an op that the checkpoint
			// already covers: the slot was being reused for a newer op
			// whose write never completed. Nothing acknowledged is lost.
			s.Decision, s.Known = DecisionCut, false
		}
		invariants.Assert(s.Slot == uint32(i), "journal: slot report of another slot")
		if s.Decision == DecisionFaulty {
			invariants.Assert(!s.Known, "journal: faulty slot with a known op")
			r.Faulty = append(r.Faulty, s.Slot)
		}
		if s.Known && s.Op > r.OpMax {
			r.OpMax = s.Op
		}
	}
	if r.OpMax-checkpointOp > n {
		return r, fmt.Errorf("%w: wal holds op %d, more than %d slots past checkpoint %d", ErrCorrupt, r.OpMax, n, checkpointOp)
	}
	if len(r.Faulty) == 0 {
		r.cutHead()
	}
	parent, parentKnown := checkpointSum, true
	for op := checkpointOp + 1; op <= r.OpMax; op++ {
		s := &slots[op%n]
		h := &headers[op%n]
		if !s.Known || s.Op != op {
			r.Repair = append(r.Repair, Repair{Op: op})
			parentKnown = false
			continue
		}
		if s.Decision == DecisionVSR {
			r.Repair = append(r.Repair, Repair{Op: op, Checksum: s.Checksum, ChecksumKnown: true})
		}
		if parentKnown && h.Parent != parent && r.ChainBreak == 0 {
			r.ChainBreak = op
		}
		parent, parentKnown = h.Checksum, true
	}
	// What Open and the replica rely on.
	invariants.Assert(r.OpMax >= checkpointOp && r.OpMax-checkpointOp <= n, "journal: op_max outside the ring above the checkpoint")
	invariants.Assert(len(r.Faulty) == 0 || len(r.Truncated) == 0, "journal: head cut despite faulty slots")
	invariants.Assert(r.ChainBreak == 0 || (r.ChainBreak > checkpointOp && r.ChainBreak <= r.OpMax), "journal: chain break outside (checkpoint, op_max]")
	for i := range r.Repair {
		if op := r.Repair[i].Op; op <= checkpointOp || op > r.OpMax || (i > 0 && op <= r.Repair[i-1].Op) {
			invariants.Failf("journal: repair of op %d out of order or outside (%d, %d]", op, checkpointOp, r.OpMax)
		}
	}
	return r, nil
}

// cutHead applies the head rule: a prepare is acknowledged only once durable
// and, in ordered mode, once its redundant header is durable too; prepares
// written in one batch can land in any order. So a hole (an op missing from
// its slot) above every op a valid redundant header names is a batch that
// never completed: it and everything after it were never acknowledged, and
// the log is cut before it instead of asking peers for ops that may exist
// nowhere. Holes at or below OpHeaderMax stay in Repair. With a faulty slot
// the rule does not apply (that slot's lost header may have named a higher
// op).
func (r *Report) cutHead() {
	invariants.Assert(len(r.Faulty) == 0, "journal: head cut with faulty slots")
	n := uint64(len(r.Slots))
	for op := r.OpCheckpoint + 1; op <= r.OpMax; op++ {
		s := &r.Slots[op%n]
		if s.Known && s.Op == op {
			continue
		}
		if op <= r.OpHeaderMax {
			continue
		}
		for o := op + 1; o <= r.OpMax; o++ {
			s := &r.Slots[o%n]
			if s.Known && s.Op == o {
				// Only ops no valid redundant header names are cut.
				invariants.Assert(o > r.OpHeaderMax, "journal: head cut of an op a redundant header names")
				s.Decision, s.Known = DecisionCut, false
				r.Truncated = append(r.Truncated, o)
			}
		}
		r.OpMax = op - 1
		invariants.Assert(r.OpMax >= r.OpCheckpoint && r.OpMax >= r.OpHeaderMax, "journal: head cut below the checkpoint or a redundant header")
		return
	}
}
