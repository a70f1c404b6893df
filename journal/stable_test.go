package journal

import (
	"bytes"
	"errors"
	"testing"

	"github.com/chronon-db/chronon/wire"
)

// TestStableHeldReadOmitRepair: a checkpoint marks the full blocks of its
// stable prefix; after it (and after a reopen) StableHeld names them and
// ReadStable reads them back through the cache; a checkpoint that omits
// them references the durable checkpoint's blocks (it writes none of
// them, and reads back the same bytes); ReadCheckpointOmitting leaves them
// out; a damaged block fails ReadStable and VerifyStable until
// RepairStable writes a peer's copy (refusing other bytes), and the next
// checkpoint takes the repaired block.
func TestStableHeldReadOmitRepair(t *testing.T) {
	s := newFormatted(t, 41, MemoryFaults{LatencyMax: 2})
	j := mustOpen(t, s)
	root := j.Superblock().VSR.CheckpointChecksum
	pm := j.StableUnit()
	src := &logSource{head: blob(1, 32), table: blob(2, pm+5), log: blob(3, 4*pm+10)}
	if seg, n := j.StableHeld(); seg != -1 || n != 0 {
		t.Fatalf("a fresh journal holds stable segment %d, %d bytes", seg, n)
	}
	if err := j.Checkpoint(0, root, src.data()); err != nil {
		t.Fatal(err)
	}
	seg, held := j.StableHeld()
	if seg != 2 || held != 4*pm {
		t.Fatalf("held segment %d, %d bytes; want 2, %d", seg, held, 4*pm)
	}
	j.SetStableCache(2)
	read := func(j *Journal, from, to int) []byte {
		t.Helper()
		b, err := j.ReadStable(nil, from, to)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, src.log[from:to]) {
			t.Fatalf("stable bytes [%d, %d) differ", from, to)
		}
		return b
	}
	read(j, 0, held)
	read(j, pm-3, pm+7) // across two blocks
	read(j, pm-3, pm+7) // from the cache
	if st := j.StableCacheStats(); st.Hits == 0 || st.Misses == 0 {
		t.Fatalf("cache stats %+v", st)
	}

	// The log grows; the next checkpoint omits the held prefix: none of
	// those blocks is written, and the state reads back whole.
	src.log = append(src.log, blob(4, 2*pm)...)
	data := src.data()
	full := bytes.Clone(data.State)
	off := len(src.head) + len(src.table)
	clear(data.State[off : off+held]) // the caller does not hold them
	data.StableOmitted = held
	before := j.CheckpointStats()
	if err := j.Checkpoint(0, root, data); err != nil {
		t.Fatal(err)
	}
	// head, table 2, log's 2 new full blocks and its partial one, the index,
	// the free set.
	if w := j.CheckpointStats().Written - before.Written; w > 1+2+3+1+2 {
		t.Fatalf("an omitting checkpoint wrote %d blocks", w)
	}
	got, err := j.ReadCheckpoint(CheckpointData{})
	if err != nil || !bytes.Equal(got.State, full) {
		t.Fatalf("omitting checkpoint reads back wrong: %v", err)
	}

	// Reopened: the flags say what is held; ReadCheckpointOmitting skips it.
	j = mustOpen(t, s)
	seg, held = j.StableHeld()
	if seg != 2 || held != 6*pm {
		t.Fatalf("after reopen: held segment %d, %d bytes; want 2, %d", seg, held, 6*pm)
	}
	om, err := j.ReadCheckpointOmitting(CheckpointData{})
	if err != nil || om.StableOmitted != held || om.StableOffset != off || len(om.State) != len(full) ||
		!bytes.Equal(om.State[:off], full[:off]) || !bytes.Equal(om.State[off+held:], full[off+held:]) {
		t.Fatalf("read omitting: %v, omitted %d at %d", err, om.StableOmitted, om.StableOffset)
	}
	read(j, 0, held)

	// A bit flips in block 1: reads and the scrubber's verify fail, a
	// repair with other bytes is refused, a peer's copy is taken.
	j.SetStableCache(1)
	a := j.StableBlockAddress(1)
	l := j.Layout()
	s.FlipBit(l.BlockOffset(a)+wire.HeaderSize+17, 3)
	if _, err := j.ReadStable(nil, pm, pm+1); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("read of a damaged block: %v", err)
	}
	if err := j.VerifyStable(1); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("verify of a damaged block: %v", err)
	}
	if err := j.RepairStable(1, blob(9, pm)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("repair with wrong bytes: %v", err)
	}
	if err := j.RepairStable(1, src.log[pm:2*pm]); err != nil {
		t.Fatal(err)
	}
	if j.StableBlockAddress(1) == a || j.VerifyStable(1) != nil {
		t.Fatal("repaired block not in use")
	}
	read(j, 0, held)
	data = src.data()
	clear(data.State[off : off+held])
	data.StableOmitted = held
	if err := j.Checkpoint(0, root, data); err != nil {
		t.Fatal(err)
	}
	j = mustOpen(t, s)
	read(j, 0, held)
	if got, err := j.ReadCheckpoint(CheckpointData{}); err != nil || !bytes.Equal(got.State, full) {
		t.Fatalf("checkpoint after a repair reads back wrong: %v", err)
	}
}
