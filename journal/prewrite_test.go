package journal

import (
	"bytes"
	"errors"
	"testing"
)

// logSource is a state of a header, a table and a log that only grows:
// the log (segment 2) is stable.
type logSource struct {
	head, table, log []byte
}

func (s *logSource) SnapshotStable() (int, int) { return 2, len(s.log) }

func (s *logSource) AppendSnapshotRange(dst []byte, from, to int) []byte {
	return append(dst, s.log[from:to]...)
}

func (s *logSource) data() CheckpointData {
	b := append(append(append([]byte(nil), s.head...), s.table...), s.log...)
	return CheckpointData{State: b, StateSegments: []int{len(s.head), len(s.head) + len(s.table)}, StableSegment: 2, StableSize: len(s.log)}
}

// TestCrashScriptSharesAndPrewrites: the crash script's second checkpoint
// does share the first one's blocks and take blocks written ahead (so
// TestCrashAtEveryWrite crashes inside both).
func TestCrashScriptSharesAndPrewrites(t *testing.T) {
	s := newFormatted(t, 29, MemoryFaults{})
	j := mustOpen(t, s)
	if err := newCrashScript().run(j); err != nil {
		t.Fatal(err)
	}
	if st := j.CheckpointStats(); st.Shared == 0 || st.PrewriteUsed == 0 {
		t.Fatalf("script checkpoints shared %d blocks and took %d written ahead", st.Shared, st.PrewriteUsed)
	}
}

// TestPrewriteSpreadsCheckpointWrites: the full blocks of a stable log are
// written ahead between checkpoints; the checkpoint then writes only the
// rest; prewrites not yet taken by a checkpoint are lost by a crash without
// harm; a source whose stable bytes go back starts again.
func TestPrewriteSpreadsCheckpointWrites(t *testing.T) {
	s := newFormatted(t, 28, MemoryFaults{LatencyMax: 2})
	j := mustOpen(t, s)
	root := j.Superblock().VSR.CheckpointChecksum
	pm := int(ConfigTest.GridBlockSize - 256)
	src := &logSource{head: blob(1, 32), table: blob(2, 3*pm), log: blob(3, 5*pm+10)}
	checkpoint := func(wantWritten, wantTaken uint64) {
		t.Helper()
		before := j.CheckpointStats()
		data := src.data()
		if err := j.Checkpoint(0, root, data); err != nil {
			t.Fatal(err)
		}
		after := j.CheckpointStats()
		if w, u := after.Written-before.Written, after.PrewriteUsed-before.PrewriteUsed; w != wantWritten || u != wantTaken {
			t.Fatalf("checkpoint wrote %d blocks and took %d prewritten, want %d and %d", w, u, wantWritten, wantTaken)
		}
		got, err := j.ReadCheckpoint(CheckpointData{})
		if err != nil || !bytes.Equal(got.State, data.State) {
			t.Fatalf("checkpoint reads back wrong: %v", err)
		}
	}
	prewrite := func(max, want int) {
		t.Helper()
		if n, err := j.Prewrite(src, max); err != nil || n != want {
			t.Fatalf("prewrite of %d: %d, %v; want %d", max, n, err, want)
		}
	}
	// The log's 5 full blocks, 2 then 3 (the partial sixth is not stable
	// as a block).
	prewrite(2, 2)
	prewrite(10, 3)
	prewrite(10, 0)
	// head 1, table 3, log's partial block 1, state index 1; free set 2.
	checkpoint(1+3+1+1+2, 5)
	// The log grows by 3 blocks: the full ones (the old partial block, now
	// full, and two more) are written ahead.
	src.log = append(src.log, blob(4, 3*pm)...)
	prewrite(10, 3)
	// After a crash the prewrites are gone; written again after the reopen.
	j = mustOpen(t, s)
	prewrite(10, 3)
	src.head[0]++
	// head 1, the last partial block 1, state index 1, free set 2; table
	// and the first 5 log blocks shared.
	checkpoint(1+1+1+2, 3)
	// The source went back (restored to a shorter log): prewrites start
	// again from the durable checkpoint, and what is not taken is freed.
	src.log = append(src.log, blob(5, 2*pm)...)
	prewrite(10, 2)
	src.log = src.log[:6*pm]
	prewrite(10, 0)
	// All shared: the state index and the free set.
	checkpoint(1+2, 0)
	if acquired, _ := j.GridUsage(); j.preSet.acquired() != 0 || acquired == 0 {
		t.Fatalf("prewrite blocks left: %d", j.preSet.acquired())
	}
}

// TestCheckpointSkipsCoveredBytes: StableCovered reports the held and
// written-ahead full blocks of the stable prefix; a checkpoint whose State
// leaves exactly those bytes out (StableSkipped) takes the blocks unread
// and reads back whole; skipping one block more than covered is refused.
func TestCheckpointSkipsCoveredBytes(t *testing.T) {
	s := newFormatted(t, 30, MemoryFaults{LatencyMax: 2})
	j := mustOpen(t, s)
	root := j.Superblock().VSR.CheckpointChecksum
	pm := int(ConfigTest.GridBlockSize - 256)
	src := &logSource{head: blob(1, 32), table: blob(2, 2*pm), log: blob(3, 3*pm+10)}
	// skipping checkpoints with the covered bytes of the log zeroed.
	skipping := func(wantCovered int) {
		t.Helper()
		seg, size := src.SnapshotStable()
		covered := j.StableCovered(seg, size)
		if covered != wantCovered {
			t.Fatalf("covered %d bytes, want %d", covered, wantCovered)
		}
		data := src.data()
		want := bytes.Clone(data.State)
		at := len(src.head) + len(src.table)
		clear(data.State[at : at+covered])
		data.StableSkipped = covered
		if _, held := j.StableHeld(); held > 0 {
			data.StableOmitted = held
		}
		if err := j.Checkpoint(0, root, data); err != nil {
			t.Fatal(err)
		}
		got, err := j.ReadCheckpoint(CheckpointData{})
		if err != nil || !bytes.Equal(got.State, want) {
			t.Fatalf("checkpoint skipping %d bytes reads back wrong: %v", covered, err)
		}
	}
	if n, err := j.Prewrite(src, 10); err != nil || n != 3 {
		t.Fatalf("prewrite: %d, %v", n, err)
	}
	skipping(3 * pm)
	// Held now: 3 blocks. Two more written ahead, one of them not yet.
	src.log = append(src.log, blob(4, 3*pm)...)
	if n, err := j.Prewrite(src, 2); err != nil || n != 2 {
		t.Fatalf("prewrite: %d, %v", n, err)
	}
	seg, size := src.SnapshotStable()
	if c := j.StableCovered(seg, size); c != 5*pm {
		t.Fatalf("covered %d, want held 3 and written ahead 2 blocks (%d)", c, 5*pm)
	}
	// More than covered is a caller's bug.
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("a checkpoint skipping a block neither held nor written ahead was taken")
			}
		}()
		data := src.data()
		data.StableOmitted, data.StableSkipped = 3*pm, 6*pm
		_ = j.Checkpoint(0, root, data)
	}()
	j = mustOpen(t, s)
	if n, err := j.Prewrite(src, 10); err != nil || n != 3 {
		t.Fatalf("prewrite after reopen: %d, %v", n, err)
	}
	skipping(6 * pm)
}

// TestSubmitPrewriteAsync: a block written ahead asynchronously counts
// (StableCovered, the next checkpoint) only once durable; one is in flight
// at a time; a failed write reaches the callback as ErrIO and frees its
// block; a crash before completion leaves nothing referenced.
func TestSubmitPrewriteAsync(t *testing.T) {
	s := newFormatted(t, 31, MemoryFaults{LatencyMin: 2, LatencyMax: 5})
	j := mustOpen(t, s)
	root := j.Superblock().VSR.CheckpointChecksum
	pm := int(ConfigTest.GridBlockSize - 256)
	src := &logSource{head: blob(1, 32), table: blob(2, pm), log: blob(3, 3*pm+10)}
	var calls int
	var last error
	cb := func(err error) { calls, last = calls+1, err }
	covered := func() int { seg, size := src.SnapshotStable(); return j.StableCovered(seg, size) }

	if !j.SubmitPrewrite(src, cb) || !j.PrewriteInFlight() {
		t.Fatal("no prewrite started for a full block")
	}
	if j.PrewriteDue(src) || covered() != 0 || calls != 0 {
		t.Fatalf("in flight: due %v, covered %d, callbacks %d", j.PrewriteDue(src), covered(), calls)
	}
	if err := j.AwaitPrewrite(); err != nil {
		t.Fatal(err)
	}
	if calls != 1 || last != nil || covered() != pm {
		t.Fatalf("after completion: callbacks %d (%v), covered %d", calls, last, covered())
	}
	for j.PrewriteDue(src) {
		j.SubmitPrewrite(src, cb)
		if err := j.AwaitPrewrite(); err != nil {
			t.Fatal(err)
		}
	}
	if calls != 3 || covered() != 3*pm {
		t.Fatalf("all written ahead: callbacks %d, covered %d", calls, covered())
	}
	// The checkpoint takes the three unread.
	data := src.data()
	want := bytes.Clone(data.State)
	clear(data.State[32+pm : 32+pm+3*pm])
	data.StableSkipped = 3 * pm
	before := j.CheckpointStats()
	if err := j.Checkpoint(0, root, data); err != nil {
		t.Fatal(err)
	}
	if used := j.CheckpointStats().PrewriteUsed - before.PrewriteUsed; used != 3 {
		t.Fatalf("checkpoint took %d blocks written ahead, want 3", used)
	}
	if got, err := j.ReadCheckpoint(CheckpointData{}); err != nil || !bytes.Equal(got.State, want) {
		t.Fatalf("checkpoint reads back wrong: %v", err)
	}
	// A failed write: the callback has the error, the block is free again,
	// and the step that waits for it fails with it (once).
	src.log = append(src.log, blob(4, 2*pm)...)
	acquired := j.preSet.acquired()
	s.CrashAfterWrites(0)
	j.SubmitPrewrite(src, cb)
	if err := j.AwaitPrewrite(); !errors.Is(err, ErrIO) {
		t.Fatalf("waiting for a failed prewrite: %v", err)
	}
	if calls != 4 || !errors.Is(last, ErrIO) || j.preSet.acquired() != acquired || covered() != 3*pm {
		t.Fatalf("failed prewrite: callbacks %d (%v), prewrite set %d (was %d), covered %d", calls, last, j.preSet.acquired(), acquired, covered())
	}
	if err := j.AwaitPrewrite(); err != nil {
		t.Fatalf("a prewrite's error returned twice: %v", err)
	}
	// A crash with one in flight: after the reopen nothing refers to it,
	// and the checkpoint's blocks read back.
	s.Crash(CrashRandom)
	j = mustOpen(t, s)
	j.SubmitPrewrite(src, cb)
	s.Crash(CrashRandom)
	j = mustOpen(t, s)
	if got, err := j.ReadCheckpoint(CheckpointData{}); err != nil || !bytes.Equal(got.State, want) || j.PrewriteInFlight() {
		t.Fatalf("after a crash with a prewrite in flight: %v", err)
	}
}
