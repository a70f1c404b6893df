package journal

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// checkSound verifies what recovery must guarantee under any fault: it
// trusts only headers that were really written, and every acknowledged op
// above the checkpoint is intact, listed for repair, or in a faulty slot.
func (sc *crashScript) checkSound(j *Journal) error {
	r := j.Report()
	cp := r.OpCheckpoint
	for i := range r.Slots {
		s := &r.Slots[i]
		if s.Known && (s.Op > scriptOps || s.Checksum != sc.c.sums[s.Op]) {
			return fmt.Errorf("slot %d trusts op %d with checksum %s that was never written", i, s.Op, s.Checksum)
		}
	}
	repair := map[uint64]bool{}
	for _, rp := range r.Repair {
		repair[rp.Op] = true
		if rp.ChecksumKnown && rp.Checksum != sc.c.sums[rp.Op] {
			return fmt.Errorf("repair of op %d names a wrong checksum", rp.Op)
		}
	}
	faulty := map[uint32]bool{}
	for _, f := range r.Faulty {
		faulty[f] = true
	}
	for op := cp + 1; op <= scriptOps; op++ {
		if !sc.acked[op] || repair[op] || faulty[j.layout.SlotOf(op)] {
			continue
		}
		if op > r.OpMax {
			return fmt.Errorf("acked op %d lost above op max %d with no faulty slot", op, r.OpMax)
		}
		if _, err := j.ReadPrepare(op, sc.c.sums[op]); err != nil {
			return fmt.Errorf("acked op %d neither intact nor in repair: %w", op, err)
		}
	}
	if got, err := j.ReadCheckpoint(CheckpointData{}); err == nil && cp > 0 {
		if want := sc.blobs[cp]; !bytes.Equal(got.State, want.State) || !bytes.Equal(got.Sessions, want.Sessions) {
			return fmt.Errorf("checkpoint %d verified but differs", cp)
		}
	} else if err != nil && !errors.Is(err, ErrCorrupt) {
		return fmt.Errorf("checkpoint read: %v", err)
	}
	return nil
}

// TestRandomFaults runs the script with misdirected writes and reads and
// random bit flips in every zone, then checks that recovery is sound.
func TestRandomFaults(t *testing.T) {
	l, _ := NewLayout(ConfigTest)
	base := newFormatted(t, 1, MemoryFaults{})
	image := append([]byte(nil), base.Data()...)
	seeds := 300
	if testing.Short() {
		seeds = 60
	}
	opened, failed := 0, 0
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		faults := MemoryFaults{LatencyMax: 2, MisdirectWrite: 0.01, Zones: l.Zones()}
		s := NewMemoryStorage(l.Size, seed, faults)
		copy(s.Data(), image)
		sc := newCrashScript()
		if int(seed)%3 == 0 {
			s.CrashAfterWrites(s.Random().IntN(230))
		}
		j, err := Open(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := sc.run(j); err != nil && !errors.Is(err, ErrCrashed) {
			t.Fatalf("seed %d: %v", seed, err)
		}
		s.Crash(CrashRandom)
		flips := s.Random().IntN(4)
		for i := 0; i < flips; i++ {
			zones := l.Zones()
			s.FlipRandomBit(zones[s.Random().IntN(len(zones))])
		}
		s.faults.MisdirectRead = 0.01
		// Recovery's own write-backs are not misdirected: one that landed
		// on a slot it had already judged intact would damage that slot
		// after the report, which checkSound cannot tell from a wrong
		// decision.
		s.faults.MisdirectWrite = 0
		j, err = Open(s)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrNoSuperblock) && !errors.Is(err, ErrForeign) {
				t.Fatalf("seed %d: open: %v", seed, err)
			}
			t.Logf("seed %d: open refused: %v", seed, err)
			failed++
			continue
		}
		opened++
		s.faults.MisdirectRead = 0 // judge recovery's decisions with clean reads
		if err := sc.checkSound(j); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
	}
	t.Logf("%d opened, %d refused with a sentinel error", opened, failed)
}
