package persist

import (
	"testing"

	"github.com/chronon-db/chronon/journal"
	"github.com/chronon-db/chronon/wire"
)

// TestRottedTailPrepareWithholds (safety guard, from the review of a
// durable-view-headers attempt): a backup journals and acknowledges ops
// 1..10, then prepare 10 rots under its intact redundant header. Its
// journal names op 10 (Report.Repair, checksum known) but cannot provide
// it: the replica acknowledged it, so it must not vote as if it never held
// it (a new primary counting holders could drop a committed op); it
// withholds until caught up.
func TestRottedTailPrepareWithholds(t *testing.T) {
	base, l := r3Acked(t, 10, 8)
	r3Rot(base, l, 10)
	r, info, j2 := r3Recover(t, base)
	t.Logf("repair %+v; %+v; op %d", j2.Report().Repair, info, r.Op())
	if rp := j2.Report().Repair; len(rp) != 1 || rp[0].Op != 10 || !rp[0].ChecksumKnown {
		t.Fatalf("setup: repair %+v, want op 10 with its checksum", rp)
	}
	if !info.Incomplete() || !r.Rejoining() {
		t.Fatalf("a replica whose acknowledged prepare 10 rotted votes (holds up to op %d, log head 10)", r.Op())
	}
}

// TestRottedPrepareDamagedBound: the damage of a rotted prepare (its
// redundant header intact) is bounded: the replica sends damaged votes
// that name every op its journal names, and keeps the commit number its
// journal's prepares carry (the third review of durable view headers found
// a recovery that forgot it). Rot in the middle or at the tail alike.
func TestRottedPrepareDamagedBound(t *testing.T) {
	for _, rotted := range []uint64{4, 10} {
		base, l := r3Acked(t, 10, 3)
		r3Rot(base, l, rotted)
		r, info, _ := r3Recover(t, base)
		t.Logf("rotted %d: %+v; op %d commit %d/%d", rotted, info, r.Op(), r.CommitMin(), r.CommitMax())
		if !info.Incomplete() || !r.Rejoining() || info.DamagedBound < 10 {
			t.Fatalf("rotted %d: damaged bound %d (incomplete %v), want at least 10: it acknowledged up to 10", rotted, info.DamagedBound, info.Incomplete())
		}
		if r.CommitMax() < min(rotted-1, 8) || r.CommitMax() < 3 {
			t.Fatalf("rotted %d: commit_max %d forgot what the journal's prepares carry", rotted, r.CommitMax())
		}
	}
}

// TestFaultySlotWithholds: a slot whose op is unknown (its redundant header
// and its prepare both corrupt) may have held an op above every op the
// journal names, so the damage is not bounded: the replica withholds its
// vote instead of sending damaged votes.
func TestFaultySlotWithholds(t *testing.T) {
	base, l := r3Acked(t, 10, 3)
	slot := l.SlotOf(10)
	base.FlipBit(l.PrepareOffset(slot)+3, 1)
	base.FlipBit(l.HeaderSectorOffset(slot)+uint64(slot)*wire.HeaderSize%journal.SectorSize+3, 1)
	r, info, j2 := r3Recover(t, base)
	t.Logf("faulty %v; %+v; op %d", j2.Report().Faulty, info, r.Op())
	if len(j2.Report().Faulty) == 0 {
		t.Fatalf("setup: no faulty slot: %+v", j2.Report().Slots[slot])
	}
	if !info.Incomplete() || !r.Rejoining() || info.DamagedBound != 0 {
		t.Fatalf("a journal with a slot of unknown op sends damaged votes bounded by %d", info.DamagedBound)
	}
}

// TestLostTailPrepareDamagedBound (the second review's finding 2 against
// damaged votes): the prepare write of the acknowledged tail op 10 was
// lost, or misdirected to slot 30, so slot 10 still holds what formatting
// put there while its redundant header names op 10. The replica must never
// vote as if it had not acknowledged op 10: it withholds, or its damaged
// votes cover op 10.
func TestLostTailPrepareDamagedBound(t *testing.T) {
	for _, misdirected := range []bool{false, true} {
		base, l := r3Acked(t, 10, 8)
		fresh := r3Format(t).Data()
		size := uint64(l.Config.MessageSizeMax)
		at, to := l.PrepareOffset(l.SlotOf(10)), l.PrepareOffset(l.SlotOf(30))
		data := base.Data()
		if misdirected {
			copy(data[to:to+size], data[at:at+size])
		}
		copy(data[at:at+size], fresh[at:at+size])
		r, info, j2 := r3Recover(t, base)
		t.Logf("misdirected %v: repair %+v faulty %v; %+v; op %d", misdirected, j2.Report().Repair, j2.Report().Faulty, info, r.Op())
		if !info.Incomplete() || !r.Rejoining() {
			t.Fatalf("misdirected %v: a replica whose acknowledged prepare 10 was lost votes whole (op %d)", misdirected, r.Op())
		}
		if info.DamagedBound != 0 && info.DamagedBound < 10 {
			t.Fatalf("misdirected %v: damaged bound %d does not cover acknowledged op 10", misdirected, info.DamagedBound)
		}
	}
}
