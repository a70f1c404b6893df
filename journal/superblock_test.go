package journal

import (
	"errors"
	"testing"

	"github.com/chronon-db/chronon/wire"
)

func testSuperblock() Superblock {
	return Superblock{
		Sequence: 7, Cluster: testCluster, Parent: wire.Uint128{Lo: 5}, Replica: 2, ReplicaCount: 3, Config: ConfigTest,
		VSR: VSRState{View: 9, LogView: 8, CommitMin: 40, CommitMax: 50, CheckpointOp: 30,
			CheckpointChecksum: wire.Uint128{Lo: 77}, LogOp: 52, LogAnchorOp: 51, LogAnchor: wire.Uint128{Lo: 9, Hi: 4},
			Refs: [refCount]BlobRef{RefState: {Address: 3, Size: 10000, Checksum: wire.Uint128{Hi: 1}}}},
	}
}

func TestSuperblockRoundTripAndEveryBitFlip(t *testing.T) {
	sb := testSuperblock()
	b := wire.AlignedSlice(SectorSize)
	sb.Encode(b)
	var got Superblock
	if err := DecodeSuperblock(b, &got); err != nil || got != sb {
		t.Fatalf("round trip: %v\n%+v\n%+v", err, got, sb)
	}
	for i := 0; i < superblockUsed+8; i++ {
		b[i] ^= 0x10
		if err := DecodeSuperblock(b, &got); err == nil {
			t.Fatalf("flip in byte %d accepted", i)
		} else if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrForeign) {
			t.Fatalf("byte %d: %v", i, err)
		}
		b[i] ^= 0x10
	}
}

func TestSuperblockRejectsInconsistentFields(t *testing.T) {
	b := wire.AlignedSlice(SectorSize)
	for i, f := range []func(*Superblock){
		func(s *Superblock) { s.VSR.LogView = 10 },
		func(s *Superblock) { s.VSR.CommitMin = 60 },
		func(s *Superblock) { s.VSR.CheckpointOp = 45 },
		func(s *Superblock) { s.Replica = 3 },
		func(s *Superblock) { s.Config.SlotCount = 3 },
		func(s *Superblock) { s.VSR.Refs[0] = BlobRef{Address: 1} },
		func(s *Superblock) { s.VSR.Refs[0] = BlobRef{Address: 100000, Size: 1} },
		func(s *Superblock) {
			s.VSR.Refs[RefReserved] = BlobRef{Address: 1, Size: 1, Checksum: wire.Uint128{Lo: 1}}
		},
		func(s *Superblock) { s.VSR.LogAnchorOp = 53 },           // above the log head
		func(s *Superblock) { s.VSR.LogAnchor = wire.Uint128{} }, // an op without checksum
	} {
		sb := testSuperblock()
		f(&sb)
		sb.Encode(b)
		var got Superblock
		if err := DecodeSuperblock(b, &got); !errors.Is(err, ErrCorrupt) {
			t.Errorf("case %d: %v", i, err)
		}
	}
	// A newer version, and version 2 (it had a client_replies zone and
	// checkpoints without dropped replies): foreign.
	for _, v := range []uint32{FormatVersion + 1, 2} {
		sb := testSuperblock()
		sb.Encode(b)
		b[sbVersion] = byte(v)
		putU128(b, wire.Checksum(b[16:]))
		var got Superblock
		if err := DecodeSuperblock(b, &got); !errors.Is(err, ErrForeign) {
			t.Errorf("version %d: %v", v, err)
		}
	}
}

func TestSuperblockQuorumRules(t *testing.T) {
	s := newFormatted(t, 30, MemoryFaults{})
	j := mustOpen(t, s)
	// Crash after two copies of sequence 2 are durable: 2 copies each.
	s.CrashAfterWrites(2)
	if err := j.SetVSR(1, 1, 0, 0); !errors.Is(err, ErrCrashed) {
		t.Fatal(err)
	}
	s.Crash(CrashKeepAll)
	_, copies, err := ReadSuperblock(s)
	if err != nil || copies[0].Sequence != 2 || copies[2].Sequence != 1 {
		t.Fatalf("%v %+v", err, copies)
	}
	j = mustOpen(t, s) // picks sequence 2 and repairs copies 2 and 3
	if j.Superblock().Sequence != 2 || j.Superblock().VSR.View != 1 {
		t.Fatalf("picked %+v", j.Superblock())
	}
	// The next update crashes after one copy: without the repair at open,
	// sequence 1 would hold a quorum and the view would go back to 0.
	s.CrashAfterWrites(1)
	j.SetVSR(2, 2, 0, 0)
	s.Crash(CrashKeepAll)
	j = mustOpen(t, s)
	if v := j.Superblock().VSR.View; v != 1 || j.Superblock().Sequence != 2 {
		t.Fatalf("view went to %d (sequence %d)", v, j.Superblock().Sequence)
	}
	// Bit rot in three copies: no quorum.
	for i := 0; i < 3; i++ {
		s.FlipBit(uint64(i)*SectorSize+100, 1)
	}
	if _, err := Open(s); !errors.Is(err, ErrNoSuperblock) {
		t.Fatalf("three rotten copies: %v", err)
	}
	// Two rotten copies of four still leave a quorum.
	s.FlipBit(100, 1)
	if j, err := Open(s); err != nil || j.Superblock().Sequence != 2 {
		t.Fatalf("two rotten copies: %v", err)
	}
}

// TestRejoiningFlag: a file formatted with Rejoin opens rejoining, keeps
// the flag across other superblock updates and checkpoints, and loses it
// only through SetRejoined, durably. Unknown flag bits are corruption.
func TestRejoiningFlag(t *testing.T) {
	l, err := NewLayout(ConfigTest)
	if err != nil {
		t.Fatal(err)
	}
	s := NewMemoryStorage(l.Size, 1, MemoryFaults{})
	o := testFormatOptions()
	o.Rejoin = true
	if err := Format(s, o); err != nil {
		t.Fatal(err)
	}
	j := mustOpen(t, s)
	if !j.Superblock().VSR.Rejoining {
		t.Fatal("a file formatted to rejoin does not say so")
	}
	if err := j.SetVSR(1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	if j = mustOpen(t, s); !j.Superblock().VSR.Rejoining {
		t.Fatal("a view update cleared the flag")
	}
	if err := j.SetRejoined(); err != nil {
		t.Fatal(err)
	}
	if j = mustOpen(t, s); j.Superblock().VSR.Rejoining || j.Superblock().VSR.View != 1 {
		t.Fatalf("after SetRejoined: %+v", j.Superblock().VSR)
	}
	// Unknown flags.
	b := wire.AlignedSlice(SectorSize)
	sb := testSuperblock()
	sb.Encode(b)
	b[sbFlags] |= 0x80
	putU128(b, wire.Checksum(b[16:]))
	var got Superblock
	if err := DecodeSuperblock(b, &got); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("unknown flag: %v", err)
	}
	// A single replica cannot rejoin anyone.
	o.ReplicaCount, o.Replica = 1, 0
	if err := Format(NewMemoryStorage(l.Size, 1, MemoryFaults{}), o); !errors.Is(err, ErrConfig) {
		t.Fatalf("single replica rejoin: %v", err)
	}
}

// TestSetVSRLogAnchor checks the log anchor's rules: it names the highest
// op recorded with a checksum in one log_view, a zero checksum (a head
// recovery infers) leaves it, a new log_view replaces it, a newer header
// of the same op replaces it, and it survives a reopen.
func TestSetVSRLogAnchor(t *testing.T) {
	s := newFormatted(t, 30, MemoryFaults{})
	j := mustOpen(t, s)
	a, b := wire.Uint128{Lo: 1}, wire.Uint128{Lo: 2}
	step := func(view, logView uint32, logOp uint64, anchor wire.Uint128, wantOp, wantAnchorOp uint64, want wire.Uint128) {
		t.Helper()
		if err := j.SetVSRLog(view, logView, logOp, anchor, 0, 0); err != nil {
			t.Fatal(err)
		}
		v := j.Superblock().VSR
		if v.LogOp != wantOp || v.LogAnchorOp != wantAnchorOp || v.LogAnchor != want {
			t.Fatalf("after (%d, %d, %d, %v): log op %d anchor %d %v; want %d %d %v", view, logView, logOp, anchor, v.LogOp, v.LogAnchorOp, v.LogAnchor, wantOp, wantAnchorOp, want)
		}
	}
	step(1, 1, 10, a, 10, 10, a)
	step(1, 1, 14, wire.Uint128{}, 14, 10, a) // a bound: the anchor stays
	step(1, 1, 12, b, 14, 12, b)              // a higher header of the same log
	step(1, 1, 11, a, 14, 12, b)              // a lower one does not replace it
	step(2, 2, 20, wire.Uint128{}, 20, 0, wire.Uint128{})
	step(3, 3, 30, a, 30, 30, a)
	step(4, 3, 30, b, 30, 30, b) // a repair replaced op 30 in the view change
	j = mustOpen(t, s)
	if v := j.Superblock().VSR; v.LogAnchorOp != 30 || v.LogAnchor != b {
		t.Fatalf("reopened: anchor %d %v", v.LogAnchorOp, v.LogAnchor)
	}
}
