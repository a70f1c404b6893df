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
	base, j := r3Journal(t, 10, 2)
	if err := j.SetVSRLog(0, 0, 10, 8, 8); err != nil {
		t.Fatal(err)
	}
	l, err := journal.NewLayout(journal.ConfigTest)
	if err != nil {
		t.Fatal(err)
	}
	base.Crash(journal.CrashLoseAll)
	base.FlipBit(l.PrepareOffset(l.SlotOf(10))+wire.HeaderSize+3, 1)
	r, info, j2 := r3Recover(t, base)
	t.Logf("repair %+v; %+v; op %d", j2.Report().Repair, info, r.Op())
	if rp := j2.Report().Repair; len(rp) != 1 || rp[0].Op != 10 || !rp[0].ChecksumKnown {
		t.Fatalf("setup: repair %+v, want op 10 with its checksum", rp)
	}
	if !info.Incomplete || !r.Rejoining() {
		t.Fatalf("a replica whose acknowledged prepare 10 rotted votes (holds up to op %d, log head 10)", r.Op())
	}
}
