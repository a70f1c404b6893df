package journal

import (
	"github.com/chronon-db/chronon/internal/invariants"
	"github.com/chronon-db/chronon/wire"
)

// Class is the recovery classification of one WAL slot, from comparing its
// redundant header (headers ring) with the prepare's own header.
type Class uint8

// Classes. docs/data-file.md has the full case table.
const (
	// ClassOK: both headers are the same valid prepare.
	ClassOK Class = iota
	// ClassReserved: both are the reserved header (slot never written).
	ClassReserved
	// ClassHeaderStale: the prepare is valid and newer than the redundant
	// header (reserved or an older op/view): a crash between the prepare
	// write and the header write.
	ClassHeaderStale
	// ClassHeaderCorrupt: the redundant header does not verify or belongs
	// to another slot.
	ClassHeaderCorrupt
	// ClassPrepareStale: the redundant header is valid and newer than the
	// prepare (reserved or older): the prepare write was lost.
	ClassPrepareStale
	// ClassPrepareCorrupt: the redundant header is valid but the prepare is
	// corrupt, torn or misdirected.
	ClassPrepareCorrupt
	// ClassTorn: the redundant header was never written for this prepare
	// (reserved) and the prepare is torn or corrupt: an unacknowledged write
	// interrupted by a crash.
	ClassTorn
	// ClassFaulty: neither header verifies; the slot may hold an
	// acknowledged op that is unknown.
	ClassFaulty
)

var classNames = [...]string{"ok", "reserved", "header_stale", "header_corrupt", "prepare_stale", "prepare_corrupt", "torn", "faulty"}

// String returns the class name used by chronon inspect.
func (c Class) String() string {
	invariants.Assert(len(classNames) == int(ClassFaulty)+1, "journal: a class without a name")
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return "unknown"
}

// Decision is what recovery does with a slot.
type Decision uint8

// Decisions (TigerBeetle's eql/nil/fix/vsr/cut, plus faulty).
const (
	// DecisionEql: trust the prepare; nothing to do.
	DecisionEql Decision = iota
	// DecisionNil: the slot is empty; (re)write the reserved header.
	DecisionNil
	// DecisionFix: trust the prepare (it verifies on its own) and rewrite
	// the redundant header from it.
	DecisionFix
	// DecisionVSR: trust the redundant header as the identity of the op and
	// repair the prepare from a peer with request_prepare(op, checksum).
	DecisionVSR
	// DecisionCut: the slot holds nothing that was acknowledged; treat it as
	// empty.
	DecisionCut
	// DecisionFaulty: the slot's op is unknown; it may have been
	// acknowledged, so the replica must never nack an op of this slot and
	// must repair whatever op the cluster says belongs there.
	DecisionFaulty
)

var decisionNames = [...]string{"eql", "nil", "fix", "vsr", "cut", "faulty"}

// String returns the decision name.
func (d Decision) String() string {
	invariants.Assert(len(decisionNames) == int(DecisionFaulty)+1, "journal: a decision without a name")
	if int(d) < len(decisionNames) {
		return decisionNames[d]
	}
	return "unknown"
}

// newer reports whether prepare a supersedes prepare b in the same slot: a
// higher op, or the same op prepared in a higher view.
func newer(a, b *wire.Header) bool {
	invariants.Assert(a.Command == wire.CommandPrepare && b.Command == wire.CommandPrepare, "journal: newer compares headers that are not prepares")
	return a.Op > b.Op || (a.Op == b.Op && a.View > b.View)
}

// ClassifySlot applies the recovery case table to one slot: hs/hh are the
// redundant header's state and decoded header, ps/ph the prepare's, as
// ClassifyHeader and ClassifyPrepare return them (asserted: states in
// range, a header in state prepare is a prepare). It is a pure function of
// its inputs.
//
// The table relies on the WAL write order: a prepare is written and synced
// before its redundant header is written, and a prepare is acknowledged only
// after both are durable.
func ClassifySlot(hs HeaderState, hh *wire.Header, ps PrepareState, ph *wire.Header) (Class, Decision) {
	invariants.Assert(hs <= HeaderMisdirected && ps <= PrepareMisdirected, "journal: slot classified from states out of range")
	invariants.Assert(hs != HeaderPrepare || hh.Command == wire.CommandPrepare, "journal: redundant header in state prepare is not a prepare")
	invariants.Assert(ps != PreparePrepare || ph.Command == wire.CommandPrepare, "journal: prepare in state prepare is not a prepare")
	hOK := hs == HeaderPrepare
	switch ps {
	case PreparePrepare:
		switch {
		case hOK && hh.Checksum == ph.Checksum:
			return ClassOK, DecisionEql
		case hOK && newer(ph, hh), hs == HeaderReserved:
			return ClassHeaderStale, DecisionFix
		case hOK:
			// The redundant header names a newer prepare (or a different
			// prepare for the same op and view): the prepare write was lost.
			return ClassPrepareStale, DecisionVSR
		default:
			return ClassHeaderCorrupt, DecisionFix
		}
	case PrepareReserved:
		switch {
		case hOK:
			return ClassPrepareStale, DecisionVSR
		case hs == HeaderReserved:
			return ClassReserved, DecisionNil
		default:
			// No prepare ever landed here, so no redundant header was ever
			// written for one: the bad header is a torn or rotten reserved
			// header.
			return ClassHeaderCorrupt, DecisionNil
		}
	default: // corrupt, torn or misdirected prepare
		switch {
		case hOK:
			return ClassPrepareCorrupt, DecisionVSR
		case hs == HeaderReserved:
			return ClassTorn, DecisionCut
		default:
			return ClassFaulty, DecisionFaulty
		}
	}
}
