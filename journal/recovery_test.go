package journal

import (
	"errors"
	"testing"

	"github.com/chronon-db/chronon/wire"
)

// TestClassifySlotTable pins the recovery case table of docs/data-file.md.
func TestClassifySlotTable(t *testing.T) {
	old := wire.Header{Command: wire.CommandPrepare, Op: 5, View: 1, Checksum: wire.Uint128{Lo: 1}}
	cur := wire.Header{Command: wire.CommandPrepare, Op: 5 + 64, View: 1, Checksum: wire.Uint128{Lo: 2}}
	sameOpNewView := wire.Header{Command: wire.CommandPrepare, Op: 5, View: 2, Checksum: wire.Uint128{Lo: 3}}
	badH := []HeaderState{HeaderCorrupt, HeaderMisdirected}
	badP := []PrepareState{PrepareCorrupt, PrepareTorn, PrepareMisdirected}
	type tc struct {
		hs       HeaderState
		hh       wire.Header
		ps       PrepareState
		ph       wire.Header
		class    Class
		decision Decision
	}
	cases := []tc{
		{HeaderPrepare, cur, PreparePrepare, cur, ClassOK, DecisionEql},
		{HeaderReserved, wire.Header{}, PrepareReserved, wire.Header{}, ClassReserved, DecisionNil},
		{HeaderPrepare, old, PreparePrepare, cur, ClassHeaderStale, DecisionFix},
		{HeaderPrepare, old, PreparePrepare, sameOpNewView, ClassHeaderStale, DecisionFix},
		{HeaderReserved, wire.Header{}, PreparePrepare, cur, ClassHeaderStale, DecisionFix},
		{HeaderPrepare, cur, PreparePrepare, old, ClassPrepareStale, DecisionVSR},
		{HeaderPrepare, sameOpNewView, PreparePrepare, old, ClassPrepareStale, DecisionVSR},
		{HeaderPrepare, cur, PrepareReserved, wire.Header{}, ClassPrepareStale, DecisionVSR},
	}
	for _, h := range badH {
		cases = append(cases,
			tc{h, wire.Header{}, PreparePrepare, cur, ClassHeaderCorrupt, DecisionFix},
			tc{h, wire.Header{}, PrepareReserved, wire.Header{}, ClassHeaderCorrupt, DecisionNil})
		for _, p := range badP {
			cases = append(cases, tc{h, wire.Header{}, p, wire.Header{}, ClassFaulty, DecisionFaulty})
		}
	}
	for _, p := range badP {
		cases = append(cases,
			tc{HeaderPrepare, cur, p, wire.Header{}, ClassPrepareCorrupt, DecisionVSR},
			tc{HeaderReserved, wire.Header{}, p, wire.Header{}, ClassTorn, DecisionCut})
	}
	for i, c := range cases {
		class, d := ClassifySlot(c.hs, &c.hh, c.ps, &c.ph)
		if class != c.class || d != c.decision {
			t.Errorf("case %d (%s/%s): got %s/%s, want %s/%s", i, c.hs, c.ps, class, d, c.class, c.decision)
		}
	}
}

// writeOps formats, opens and writes ops 1..n of c.
func writeOps(t *testing.T, seed uint64, c *chain, n int) (*MemoryStorage, *Journal) {
	t.Helper()
	s := newFormatted(t, seed, MemoryFaults{})
	j := mustOpen(t, s)
	for op := 1; op <= n; op++ {
		if err := j.WritePrepare(c.msgs[op]); err != nil {
			t.Fatal(err)
		}
	}
	return s, j
}

func TestRecoveryCorruptPrepareInMiddleNeedsRepair(t *testing.T) {
	c := newChain(ConfigTest, 20, bodyVaried)
	s, j := writeOps(t, 10, c, 20)
	s.FlipBit(j.layout.PrepareOffset(7)+wire.HeaderSize+100, 3) // body of op 7
	s.FlipBit(j.layout.PrepareOffset(9)+40, 1)                  // header of op 9
	j = mustOpen(t, s)
	r := j.Report()
	if r.Slots[7].Class != ClassPrepareCorrupt || r.Slots[7].Prepare != PrepareTorn || r.Slots[9].Class != ClassPrepareCorrupt {
		t.Fatalf("slots 7/9: %+v %+v", r.Slots[7], r.Slots[9])
	}
	if r.OpMax != 20 || len(r.Repair) != 2 || r.Repair[0] != (Repair{Op: 7, Checksum: c.sums[7], ChecksumKnown: true}) ||
		r.Repair[1].Op != 9 || !r.TruncateSafe() {
		t.Fatalf("report: opmax %d repair %+v", r.OpMax, r.Repair)
	}
}

func TestRecoveryCorruptHeaderIsFixed(t *testing.T) {
	c := newChain(ConfigTest, 20, bodyVaried)
	s, j := writeOps(t, 11, c, 20)
	s.FlipBit(j.layout.WALHeaders.Offset+5*wire.HeaderSize+100, 0)
	j = mustOpen(t, s)
	if got := j.Report().Slots[5]; got.Class != ClassHeaderCorrupt || got.Decision != DecisionFix || !got.Known {
		t.Fatalf("slot 5: %+v", got)
	}
	j = mustOpen(t, s) // Open wrote the fixed header back.
	if got := j.Report().Slots[5]; got.Class != ClassOK {
		t.Fatalf("after fix: %+v", got)
	}
}

func TestRecoveryBothCorruptIsFaulty(t *testing.T) {
	c := newChain(ConfigTest, 20, bodyVaried)
	s, j := writeOps(t, 12, c, 20)
	s.FlipBit(j.layout.WALHeaders.Offset+20*wire.HeaderSize+100, 0)
	s.FlipBit(j.layout.PrepareOffset(20)+100, 0)
	j = mustOpen(t, s)
	r := j.Report()
	if r.Slots[20].Class != ClassFaulty || r.TruncateSafe() || len(r.Faulty) != 1 || r.Faulty[0] != 20 {
		t.Fatalf("report %+v / slot %+v", r.Faulty, r.Slots[20])
	}
	// Op 20 was the head: its loss is invisible to OpMax, but the faulty
	// slot forbids truncation on our own authority.
	if r.OpMax != 19 {
		t.Fatalf("opmax %d", r.OpMax)
	}
}

func TestRecoveryMisdirectedPrepare(t *testing.T) {
	c := newChain(ConfigTest, 20, bodyVaried)
	s, j := writeOps(t, 13, c, 20)
	// Copy slot 3's prepare over slot 4's (a misdirected write).
	l := j.layout
	copy(s.Data()[l.PrepareOffset(4):l.PrepareOffset(5)], s.Data()[l.PrepareOffset(3):l.PrepareOffset(4)])
	j = mustOpen(t, s)
	got := j.Report().Slots[4]
	if got.Prepare != PrepareMisdirected || got.Decision != DecisionVSR || got.Checksum != c.sums[4] {
		t.Fatalf("slot 4: %+v", got)
	}
}

func TestRecoveryStaleHeaderAfterCrashBetweenWrites(t *testing.T) {
	c := newChain(ConfigTest, 5, bodyVaried)
	s, j := writeOps(t, 14, c, 4)
	s.CrashAfterWrites(1) // the prepare lands, its header write does not
	if err := j.WritePrepare(c.msgs[5]); err == nil {
		t.Fatal("write after crash succeeded")
	}
	s.Crash(CrashKeepAll)
	j = mustOpen(t, s)
	r := j.Report()
	if r.Slots[5].Class != ClassHeaderStale || r.Slots[5].Decision != DecisionFix || r.OpMax != 5 {
		t.Fatalf("slot 5 %+v opmax %d", r.Slots[5], r.OpMax)
	}
}

func TestRecoveryTornHeadIsCut(t *testing.T) {
	c := newChain(ConfigTest, 5, func(uint64) int { return 30000 })
	s, j := writeOps(t, 15, c, 4)
	s.CrashAfterWrites(1)
	j.WritePrepare(c.msgs[5])
	// Tear the prepare: keep only its first sector.
	l := j.layout
	clear(s.Data()[l.PrepareOffset(5)+SectorSize : l.PrepareOffset(6)])
	s.Crash(CrashKeepAll)
	j = mustOpen(t, s)
	r := j.Report()
	if r.Slots[5].Class != ClassTorn || r.Slots[5].Decision != DecisionCut || r.OpMax != 4 || !r.TruncateSafe() {
		t.Fatalf("slot 5 %+v opmax %d", r.Slots[5], r.OpMax)
	}
}

func TestRecoveryChainBreak(t *testing.T) {
	c := newChain(ConfigTest, 6, bodyVaried)
	s, j := writeOps(t, 16, c, 6)
	// Op 4 re-prepared in view 1 with another parent: ops 5, 6 no longer chain.
	msg, _ := makePrepare(ConfigTest, 4, 1, c.sums[3], 10)
	if err := j.WritePrepare(msg); err != nil {
		t.Fatal(err)
	}
	j = mustOpen(t, s)
	if r := j.Report(); r.ChainBreak != 5 || r.OpMax != 6 {
		t.Fatalf("break %d opmax %d", r.ChainBreak, r.OpMax)
	}
}

// TestRecoveryCutsTornBatchAtHead: a batch whose prepares landed out of
// order (12 lost, 11 and 13..16 kept) when the crash came before its sync.
// None was acknowledged, so the log is cut after 11 instead of asking
// peers for op 12.
func TestRecoveryCutsTornBatchAtHead(t *testing.T) {
	c := newChain(ConfigTest, 16, bodyVaried)
	s, j := writeOps(t, 17, c, 10)
	l := j.layout
	saved := append([]byte(nil), s.Data()[l.PrepareOffset(12):l.PrepareOffset(13)]...)
	s.CrashAfterWrites(6)
	if err := j.WritePrepares(c.msgs[11:17]...); !errors.Is(err, ErrCrashed) {
		t.Fatal(err)
	}
	s.Crash(CrashKeepAll)
	copy(s.Data()[l.PrepareOffset(12):], saved)
	j = mustOpen(t, s)
	r := j.Report()
	if r.OpMax != 11 || len(r.Repair) != 0 || len(r.Truncated) != 4 || r.Truncated[0] != 13 || r.OpHeaderMax != 10 {
		t.Fatalf("opmax %d repair %v truncated %v header max %d", r.OpMax, r.Repair, r.Truncated, r.OpHeaderMax)
	}
	if _, ok := j.Header(13); ok {
		t.Fatal("cut op 13 still has a header")
	}
	// The cut is durable: the next open sees empty slots.
	r = mustOpen(t, s).Report()
	if r.OpMax != 11 || len(r.Truncated) != 0 || r.Slots[13].Class != ClassReserved {
		t.Fatalf("reopen: opmax %d truncated %v slot 13 %+v", r.OpMax, r.Truncated, r.Slots[13])
	}
	// A hole below an op that a redundant header names is repaired, not cut.
	s2, j2 := writeOps(t, 18, c, 16)
	clear(s2.Data()[j2.layout.PrepareOffset(12) : j2.layout.PrepareOffset(12)+SectorSize])
	r = mustOpen(t, s2).Report()
	if r.OpMax != 16 || len(r.Repair) != 1 || r.Repair[0].Op != 12 || !r.Repair[0].ChecksumKnown || len(r.Truncated) != 0 {
		t.Fatalf("middle hole: opmax %d repair %+v truncated %v", r.OpMax, r.Repair, r.Truncated)
	}
}
