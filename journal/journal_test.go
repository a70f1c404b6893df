package journal

import (
	"bytes"
	"errors"
	"testing"

	"github.com/chronon-db/chronon/wire"
)

func TestFormatOpenEmpty(t *testing.T) {
	s := newFormatted(t, 1, MemoryFaults{})
	j := mustOpen(t, s)
	sb := j.Superblock()
	if sb.Sequence != 1 || sb.Cluster != testCluster || sb.Replica != 1 || sb.ReplicaCount != 3 || sb.Config != ConfigTest {
		t.Fatalf("superblock %+v", sb)
	}
	r := j.Report()
	if r.OpMax != 0 || len(r.Repair) != 0 || len(r.Faulty) != 0 || !r.TruncateSafe() {
		t.Fatalf("report %+v", r)
	}
	if r.Slots[0].Class != ClassOK || r.Count(ClassReserved) != int(ConfigTest.SlotCount)-1 {
		t.Fatalf("slot 0 %+v, reserved %d", r.Slots[0], r.Count(ClassReserved))
	}
	if h, ok := j.Header(0); !ok || h.Checksum != wire.RootPrepare(testCluster).Checksum {
		t.Fatalf("root header %v %+v", ok, h)
	}
	if a, total := j.GridUsage(); a != 0 || total != int(ConfigTest.GridBlockCount) {
		t.Fatalf("grid usage %d/%d", a, total)
	}
}

func TestFormatRejectsBadOptions(t *testing.T) {
	o := testFormatOptions()
	o.Replica = 3
	s := NewMemoryStorage(1<<20, 1, MemoryFaults{})
	if err := Format(s, o); !errors.Is(err, ErrConfig) {
		t.Fatalf("replica >= count: %v", err)
	}
	o = testFormatOptions()
	if err := Format(s, o); !errors.Is(err, ErrConfig) {
		t.Fatalf("storage too small: %v", err)
	}
}

func TestOpenForeignAndBlank(t *testing.T) {
	s := NewMemoryStorage(1<<20, 1, MemoryFaults{})
	if _, err := Open(s); !errors.Is(err, ErrForeign) {
		t.Fatalf("zeroed file: %v", err)
	}
	copy(s.Data(), bytes.Repeat([]byte("not chronon "), 1000))
	if _, err := Open(s); !errors.Is(err, ErrForeign) {
		t.Fatalf("text file: %v", err)
	}
}

func TestWriteReadPrepareReopen(t *testing.T) {
	s := newFormatted(t, 2, MemoryFaults{LatencyMin: 0, LatencyMax: 3})
	j := mustOpen(t, s)
	c := newChain(ConfigTest, 42, bodyVaried)
	for op := 1; op <= 40; op++ {
		if err := j.WritePrepare(c.msgs[op]); err != nil {
			t.Fatal(err)
		}
	}
	j = mustOpen(t, s)
	r := j.Report()
	if r.OpMax != 40 || len(r.Repair) != 0 || r.ChainBreak != 0 || r.Count(ClassOK) != 41 {
		t.Fatalf("report: opmax %d repair %v break %d ok %d", r.OpMax, r.Repair, r.ChainBreak, r.Count(ClassOK))
	}
	// Deferred headers: the newest prepare's header is not yet written.
	j.SetHeaderMode(HeaderDeferred)
	for op := 41; op <= 42; op++ {
		if err := j.WritePrepare(c.msgs[op]); err != nil {
			t.Fatal(err)
		}
	}
	j = mustOpen(t, s)
	r = j.Report()
	if r.OpMax != 42 || r.Slots[41].Class != ClassOK || r.Slots[42].Class != ClassHeaderStale || r.Slots[42].Decision != DecisionFix {
		t.Fatalf("deferred: opmax %d slot 41 %+v slot 42 %+v", r.OpMax, r.Slots[41], r.Slots[42])
	}
	if r = mustOpen(t, s).Report(); r.Count(ClassOK) != 43 {
		t.Fatalf("report: opmax %d repair %v break %d ok %d", r.OpMax, r.Repair, r.ChainBreak, r.Count(ClassOK))
	}
	for op := uint64(1); op <= 40; op++ {
		msg, err := j.ReadPrepare(op, c.sums[op])
		if err != nil {
			t.Fatalf("op %d: %v", op, err)
		}
		if !bytes.Equal(msg, c.msgs[op][:len(msg)]) {
			t.Fatalf("op %d: bytes differ", op)
		}
	}
	if _, err := j.ReadPrepare(41, wire.Uint128{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("op 41: %v", err)
	}
	if _, err := j.ReadPrepare(1, c.sums[2]); !errors.Is(err, ErrNotFound) {
		t.Fatalf("op 1 with wrong checksum: %v", err)
	}
}

func TestWritePrepareOutsideWindowPanics(t *testing.T) {
	j := mustOpen(t, newFormatted(t, 3, MemoryFaults{}))
	msg, _ := makePrepare(ConfigTest, uint64(ConfigTest.SlotCount)+1, 0, wire.Uint128{Lo: 1}, 10)
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	j.WritePrepare(msg)
}

func TestSetVSRMonotonic(t *testing.T) {
	s := newFormatted(t, 4, MemoryFaults{})
	j := mustOpen(t, s)
	if err := j.SetVSR(3, 2, 0, 5); err != nil {
		t.Fatal(err)
	}
	j = mustOpen(t, s)
	v := j.Superblock().VSR
	if v.View != 3 || v.LogView != 2 || v.CommitMax != 5 || j.Superblock().Sequence != 2 {
		t.Fatalf("vsr %+v", v)
	}
	for _, f := range []func(){
		func() { j.SetVSR(2, 2, 0, 5) },
		func() { j.SetVSR(3, 1, 0, 5) },
		func() { j.SetVSR(3, 2, 0, 4) },
		func() { j.SetVSR(3, 4, 0, 5) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("regression did not panic")
				}
			}()
			f()
		}()
	}
}

// A pooled message sliced to its size (len not sector-rounded) is accepted:
// the capacity reaches the sector-rounded size.
func TestWritePrepareExactLength(t *testing.T) {
	s := newFormatted(t, 6, MemoryFaults{})
	j := mustOpen(t, s)
	c := newChain(ConfigTest, 1, func(uint64) int { return 1000 })
	if err := j.WritePrepare(c.msgs[1][:wire.HeaderSize+1000]); err != nil {
		t.Fatal(err)
	}
	if _, err := mustOpen(t, s).ReadPrepare(1, c.sums[1]); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("short capacity did not panic")
		}
	}()
	msg := c.msgs[1]
	j.WritePrepare(msg[: wire.HeaderSize+1000 : wire.HeaderSize+1000])
}

// TestFormatWriteWALWritesEverySlot: with WriteWAL, Format writes every
// byte of the WAL prepare zone (zeros after each slot's header), so a file
// system's preallocated blocks are all written before the first op.
func TestFormatWriteWALWritesEverySlot(t *testing.T) {
	for _, write := range []bool{false, true} {
		l, _ := NewLayout(ConfigTest)
		s := NewMemoryStorage(l.Size, 7, MemoryFaults{})
		zone := s.Data()[l.WALPrepare.Offset:l.WALPrepare.End()]
		for i := range zone {
			zone[i] = 0xff
		}
		o := testFormatOptions()
		o.WriteWAL = write
		if err := Format(s, o); err != nil {
			t.Fatal(err)
		}
		left := 0
		for slot := uint32(0); slot < l.Config.SlotCount; slot++ {
			rest := s.Data()[l.PrepareOffset(slot)+SectorSize : l.PrepareOffset(slot)+uint64(l.Config.MessageSizeMax)]
			for _, b := range rest {
				if b != 0 {
					left++
					break
				}
			}
		}
		if want := map[bool]int{false: int(l.Config.SlotCount), true: 0}[write]; left != want {
			t.Fatalf("WriteWAL %v: %d slots with bytes Format did not write, want %d", write, left, want)
		}
		mustOpen(t, s)
	}
}
