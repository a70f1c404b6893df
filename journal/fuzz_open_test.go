package journal

import (
	"encoding/binary"
	"errors"
	"sync"
	"testing"
)

var (
	fuzzImageOnce sync.Once
	fuzzImage     []byte
)

// fuzzBaseImage is a test-preset file with 70 ops, a checkpoint at 50 and
// a wrapped ring, built once.
func fuzzBaseImage(t testing.TB) []byte {
	fuzzImageOnce.Do(func() {
		s := newFormatted(t, 1, MemoryFaults{})
		j := mustOpen(t, s)
		c := newChain(ConfigTest, 70, func(op uint64) int { return int(op*131) % 9000 })
		for op := 1; op <= 60; op++ {
			if err := j.WritePrepare(c.msgs[op]); err != nil {
				t.Fatal(err)
			}
		}
		if err := j.Checkpoint(50, c.sums[50], CheckpointData{State: blob(1, 20000), Sessions: blob(2, 100)}); err != nil {
			t.Fatal(err)
		}
		if err := j.WritePrepares(c.msgs[61:71]...); err != nil {
			t.Fatal(err)
		}
		fuzzImage = append([]byte(nil), s.Data()...)
	})
	return fuzzImage
}

// FuzzOpen applies byte edits (each: 4-byte position, 1-byte value) to a
// valid data file and opens it. Open must not panic; it either fails with
// a sentinel error or yields a report whose trusted slots verify, and
// reading the checkpoint either verifies or fails with ErrCorrupt.
func FuzzOpen(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 100, 0xff})                                            // superblock copy 0
	f.Add([]byte{0, 0, 64, 120, 1, 0, 0, 0x50, 7, 9})                            // wal headers
	f.Add([]byte{0, 0x80, 0x80, 0, 5, 0, 0x50, 0x80, 0x10, 3})                   // grid
	f.Add([]byte{0, 0, 0x80, 0x10, 0xAA, 0, 1, 0, 0x40, 0xBB, 0, 0, 0, 0x60, 0}) // mixed
	image := fuzzBaseImage(f)
	l, _ := NewLayout(ConfigTest)
	// Edits aim at the interesting zones: position p is mapped onto the
	// superblock, the headers ring, the first sectors of prepare slots or
	// the first blocks of the grid.
	targets := []Zone{l.Superblock, l.WALHeaders, l.WALPrepare, l.Grid}
	s := NewMemoryStorage(l.Size, 1, MemoryFaults{})
	f.Fuzz(func(t *testing.T, edits []byte) {
		copy(s.Data(), image)
		for len(edits) >= 5 {
			p := binary.BigEndian.Uint32(edits)
			z := targets[p%uint32(len(targets))]
			p /= uint32(len(targets))
			var off uint64
			switch z.Name {
			case "wal_prepares":
				off = z.Offset + uint64(p%uint32(l.Config.SlotCount))*z.SlotSize + uint64(p/uint32(l.Config.SlotCount))%(2*SectorSize)
			case "grid":
				off = z.Offset + uint64(p)%(16*z.SlotSize)
			default:
				off = z.Offset + uint64(p)%z.Size
			}
			s.Data()[off] = edits[4]
			edits = edits[5:]
		}
		j, err := Open(s)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrNoSuperblock) && !errors.Is(err, ErrForeign) {
				t.Fatalf("open: error without sentinel: %v", err)
			}
			return
		}
		r := j.Report()
		for i := range r.Slots {
			sl := &r.Slots[i]
			if !sl.Known {
				continue
			}
			h, ok := j.Header(sl.Op)
			if !ok || h.Checksum != sl.Checksum || h.Op%uint64(l.Config.SlotCount) != uint64(i) {
				t.Fatalf("slot %d: trusted header inconsistent", i)
			}
			if sl.Decision == DecisionEql || sl.Decision == DecisionFix {
				if _, err := j.ReadPrepare(sl.Op, sl.Checksum); err != nil {
					t.Fatalf("slot %d: trusted prepare does not read back: %v", i, err)
				}
			}
		}
		if _, err := j.ReadCheckpoint(CheckpointData{}); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("checkpoint: %v", err)
		}
	})
}
