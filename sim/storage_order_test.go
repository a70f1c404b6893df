package sim

import (
	"errors"
	"testing"

	"github.com/chronon-db/chronon/journal"
	"github.com/chronon-db/chronon/wire"
)

// orderStorage is a simulated data file whose write-order checker records
// the first violation instead of failing a run.
func orderStorage(t *testing.T) (*storage, *journal.Layout, *error) {
	t.Helper()
	layout, err := journal.NewLayout(simJournalConfig())
	if err != nil {
		t.Fatal(err)
	}
	ms := journal.NewMemoryStorage(layout.Size, 1, journal.MemoryFaults{})
	var got error
	s := &storage{MemoryStorage: ms, rng: ms.Random(), stats: &Stats{}}
	s.checkWriteOrder(&layout, func(err error) {
		if got == nil {
			got = err
		}
	})
	return s, &layout, &got
}

func orderWrite(s *storage, buf []byte, offset uint64) {
	s.Write(buf, offset, func(error) {})
}

func orderSync(s *storage) { s.Sync(func(error) {}) }

// preparedSector returns a sector-sized prepare of op and its header.
func preparedSector(op uint64) ([]byte, wire.Header) {
	buf := wire.AlignedSlice(journal.SectorSize)
	h := wire.Header{Command: wire.CommandPrepare, Op: op, View: 1, Size: wire.HeaderSize}
	wire.Seal(&h, buf[:wire.HeaderSize])
	return buf, h
}

// headerSector returns the headers-ring sector holding slot with h in it.
func headerSector(l *journal.Layout, slot uint32, h wire.Header) ([]byte, uint64) {
	buf := wire.AlignedSlice(journal.SectorSize)
	off := l.HeaderSectorOffset(slot)
	h.Encode(buf[(l.WALHeaders.Offset+uint64(slot)*wire.HeaderSize)-off:])
	return buf, off
}

// TestWriteOrderChecker: the checker fails a redundant header written
// before its prepare is synced and a superblock written before the other
// writes are synced, and passes both in the journal's order (write, sync,
// then what depends on it). Planted bugs 03 and 04 are these orders.
func TestWriteOrderChecker(t *testing.T) {
	const op = 5
	t.Run("header before its prepare is synced", func(t *testing.T) {
		s, l, got := orderStorage(t)
		prep, h := preparedSector(op)
		orderWrite(s, prep, l.PrepareOffset(l.SlotOf(op)))
		hs, off := headerSector(l, l.SlotOf(op), h)
		orderWrite(s, hs, off)
		var v *Violation
		if !errors.As(*got, &v) || v.Invariant != InvariantWriteOrder {
			t.Fatalf("header written before its prepare was synced: got %v, want %s", *got, InvariantWriteOrder)
		}
	})
	t.Run("header after its prepare is synced", func(t *testing.T) {
		s, l, got := orderStorage(t)
		prep, h := preparedSector(op)
		orderWrite(s, prep, l.PrepareOffset(l.SlotOf(op)))
		orderSync(s)
		hs, off := headerSector(l, l.SlotOf(op), h)
		orderWrite(s, hs, off)
		orderSync(s)
		orderWrite(s, wire.AlignedSlice(journal.SectorSize), l.SuperblockOffset(0))
		if *got != nil {
			t.Fatalf("the journal's order failed the checker: %v", *got)
		}
	})
	t.Run("superblock before a grid block is synced", func(t *testing.T) {
		s, l, got := orderStorage(t)
		orderWrite(s, wire.AlignedSlice(journal.SectorSize), l.BlockOffset(1))
		orderWrite(s, wire.AlignedSlice(journal.SectorSize), l.SuperblockOffset(0))
		var v *Violation
		if !errors.As(*got, &v) || v.Invariant != InvariantWriteOrder {
			t.Fatalf("superblock written before a grid block was synced: got %v, want %s", *got, InvariantWriteOrder)
		}
	})
	t.Run("a crash forgets what it resolved", func(t *testing.T) {
		s, l, got := orderStorage(t)
		orderWrite(s, wire.AlignedSlice(journal.SectorSize), l.BlockOffset(1))
		s.Crash(journal.CrashLoseAll)
		orderWrite(s, wire.AlignedSlice(journal.SectorSize), l.SuperblockOffset(0))
		if *got != nil {
			t.Fatalf("a write resolved by a crash still counted: %v", *got)
		}
	})
}
