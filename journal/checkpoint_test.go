package journal

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

func blob(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestCheckpointRoundTrip(t *testing.T) {
	s := newFormatted(t, 20, MemoryFaults{LatencyMax: 2})
	j := mustOpen(t, s)
	c := newChain(ConfigTest, 10, bodyVaried)
	for op := 1; op <= 10; op++ {
		if err := j.WritePrepare(c.msgs[op]); err != nil {
			t.Fatal(err)
		}
	}
	data := CheckpointData{State: blob(1, 50000), Sessions: blob(2, 300)}
	if err := j.Checkpoint(8, c.sums[8], data); err != nil {
		t.Fatal(err)
	}
	j = mustOpen(t, s)
	v := j.Superblock().VSR
	if v.CheckpointOp != 8 || v.CheckpointChecksum != c.sums[8] || v.CommitMin != 8 || v.CommitMax != 8 {
		t.Fatalf("vsr %+v", v)
	}
	got, err := j.ReadCheckpoint(CheckpointData{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.State, data.State) || !bytes.Equal(got.Sessions, data.Sessions) {
		t.Fatal("checkpoint blobs differ")
	}
	// 50000 bytes need 7 blocks of 8 KiB - 256, sessions 1, free set 1,
	// and each blob one index block.
	if a, _ := j.GridUsage(); a != 12 {
		t.Fatalf("acquired %d blocks", a)
	}
	if r := j.Report(); r.OpCheckpoint != 8 || r.OpMax != 10 || len(r.Repair) != 0 || r.ChainBreak != 0 {
		t.Fatalf("report %+v", r)
	}
}

// TestCheckpointDoesNotReuseLiveBlocks checks that checkpoint N+1 never
// writes over blocks of checkpoint N, and that N's blocks are reused only
// once N+1 is durable.
func TestCheckpointDoesNotReuseLiveBlocks(t *testing.T) {
	s := newFormatted(t, 21, MemoryFaults{})
	j := mustOpen(t, s)
	root := j.Superblock().VSR.CheckpointChecksum
	used := func() map[uint64]bool {
		m := map[uint64]bool{}
		for a := uint64(1); a <= uint64(ConfigTest.GridBlockCount); a++ {
			if j.acquired.isAcquired(a) {
				m[a] = true
			}
		}
		return m
	}
	if err := j.Checkpoint(0, root, CheckpointData{State: blob(3, 20000)}); err != nil {
		t.Fatal(err)
	}
	first := used()
	if err := j.Checkpoint(0, root, CheckpointData{State: blob(4, 20000)}); err != nil {
		t.Fatal(err)
	}
	second := used()
	for a := range second {
		if first[a] {
			t.Fatalf("checkpoint 2 reused live block %d", a)
		}
	}
	if err := j.Checkpoint(0, root, CheckpointData{State: blob(5, 20000)}); err != nil {
		t.Fatal(err)
	}
	third := used()
	reused := false
	for a := range third {
		if second[a] {
			t.Fatalf("checkpoint 3 reused live block %d", a)
		}
		reused = reused || first[a]
	}
	if !reused {
		t.Fatal("blocks of checkpoint 1 were never reused")
	}
}

func TestCheckpointGridFull(t *testing.T) {
	j := mustOpen(t, newFormatted(t, 22, MemoryFaults{}))
	root := j.Superblock().VSR.CheckpointChecksum
	n, pm := int(ConfigTest.GridBlockCount), int(ConfigTest.GridBlockSize-256)
	big := blob(6, (n+44)*pm)
	if err := j.Checkpoint(0, root, CheckpointData{State: big}); !errors.Is(err, ErrGridFull) {
		t.Fatalf("%d blocks of %d: %v", n+44, n, err)
	}
	// A failed checkpoint leaves the durable one (none) untouched.
	if a, _ := j.GridUsage(); a != 0 {
		t.Fatalf("acquired %d", a)
	}
	if err := j.Checkpoint(0, root, CheckpointData{State: blob(7, n*2/5*pm)}); err != nil {
		t.Fatal(err)
	}
	if err := j.Checkpoint(0, root, CheckpointData{State: blob(8, n*5/8*pm)}); !errors.Is(err, ErrGridFull) {
		t.Fatalf("%d blocks beside %d live ones: %v", n*5/8, n*2/5+1, err)
	}
}

func TestCheckpointCorruptBlockDetected(t *testing.T) {
	s := newFormatted(t, 23, MemoryFaults{})
	j := mustOpen(t, s)
	root := j.Superblock().VSR.CheckpointChecksum
	if err := j.Checkpoint(0, root, CheckpointData{State: blob(8, 30000)}); err != nil {
		t.Fatal(err)
	}
	ref := j.Superblock().VSR.Refs[RefState]
	blocks := j.cur[RefState]
	if len(blocks) != 4 {
		t.Fatalf("%d data blocks", len(blocks))
	}
	l := j.layout
	block := func(a uint64) []byte {
		return s.Data()[l.BlockOffset(a) : l.BlockOffset(a)+uint64(l.Config.GridBlockSize)]
	}
	// Misdirected: a data block's bytes at the index block's address, then
	// one data block's bytes at another's.
	for _, c := range [][2]uint64{{ref.Address, blocks[1].address}, {blocks[0].address, blocks[1].address}} {
		saved := append([]byte(nil), block(c[0])...)
		copy(block(c[0]), block(c[1]))
		if _, err := j.ReadCheckpoint(CheckpointData{}); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("misdirected block %d at %d: %v", c[1], c[0], err)
		}
		copy(block(c[0]), saved)
		if _, err := j.ReadCheckpoint(CheckpointData{}); err != nil {
			t.Fatalf("restored: %v", err)
		}
	}
	// Bit rot in the last block's payload.
	s.FlipBit(l.BlockOffset(blocks[3].address)+1000, 5)
	if _, err := j.ReadCheckpoint(CheckpointData{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("flipped block: %v", err)
	}
}

// TestCheckpointBlocksMaxMatchesCheckpoint: the bound CheckGrid uses is
// what a checkpoint of exactly those sizes acquires, and a grid of twice
// that many blocks takes a second such checkpoint beside the first.
func TestCheckpointBlocksMaxMatchesCheckpoint(t *testing.T) {
	pm := int(ConfigTest.GridBlockSize - 256)
	sizes := CheckpointSizes{State: uint64(37*pm + 1), Sessions: uint64(3 * pm)}
	cfg := ConfigTest
	cfg.GridBlockCount = uint32(2 * cfg.CheckpointBlocksMax(sizes))
	if err := cfg.CheckGrid(sizes); err != nil {
		t.Fatal(err)
	}
	cfg.GridBlockCount--
	if err := cfg.CheckGrid(sizes); !errors.Is(err, ErrGridFull) {
		t.Fatalf("one block short: %v", err)
	}
	cfg.GridBlockCount++
	l, err := NewLayout(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := NewMemoryStorage(l.Size, 24, MemoryFaults{})
	if err := Format(s, FormatOptions{Config: cfg, Cluster: testCluster, ReplicaCount: 1}); err != nil {
		t.Fatal(err)
	}
	j := mustOpen(t, s)
	root := j.Superblock().VSR.CheckpointChecksum
	// The most blocks a state of that size takes: SegmentsMax segments of
	// one byte, then the rest.
	ends := make([]int, 0, SegmentsMax)
	for i := 1; i <= SegmentsMax; i++ {
		ends = append(ends, i)
	}
	data := CheckpointData{State: blob(1, int(sizes.State)), StateSegments: ends, Sessions: blob(2, int(sizes.Sessions))}
	for i := range 3 {
		data.State = blob(uint64(10+i), int(sizes.State)) // nothing shared
		if err := j.Checkpoint(0, root, data); err != nil {
			t.Fatalf("checkpoint %d: %v", i, err)
		}
		if a, _ := j.GridUsage(); uint64(a) != cfg.CheckpointBlocksMax(sizes) {
			t.Fatalf("checkpoint %d acquired %d blocks, CheckpointBlocksMax %d", i, a, cfg.CheckpointBlocksMax(sizes))
		}
	}
}

// TestCorruptFreeSetIsRebuilt: a free set that fails to verify at open is
// rebuilt from the checkpoint's block references (GridFault reports what
// happened), so the next checkpoint goes through, never over a block the
// durable checkpoint uses, and the free set it writes is sound again.
func TestCorruptFreeSetIsRebuilt(t *testing.T) {
	s := newFormatted(t, 25, MemoryFaults{})
	j := mustOpen(t, s)
	root := j.Superblock().VSR.CheckpointChecksum
	data := CheckpointData{State: blob(1, 50000), Sessions: blob(2, 300)}
	if err := j.Checkpoint(0, root, data); err != nil {
		t.Fatal(err)
	}
	live := map[uint64]bool{}
	refs := j.Superblock().VSR.Refs
	for i, ref := range refs {
		if err := j.walkBlob(ref, BlockType(i+1), func(a uint64) { live[a] = true }); err != nil {
			t.Fatal(err)
		}
	}
	acquired, _ := j.GridUsage()
	s.FlipBit(j.layout.BlockOffset(j.cur[RefFreeSet][0].address)+300, 2)
	j = mustOpen(t, s)
	if err := j.GridFault(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("grid fault %v", err)
	}
	if a, _ := j.GridUsage(); a != acquired {
		t.Fatalf("rebuilt free set acquires %d blocks, the checkpoint uses %d", a, acquired)
	}
	if err := j.Checkpoint(0, root, CheckpointData{State: blob(4, 70000)}); err != nil {
		t.Fatalf("checkpoint after a corrupt free set: %v", err)
	}
	for i, ref := range j.Superblock().VSR.Refs {
		if err := j.walkBlob(ref, BlockType(i+1), func(a uint64) {
			if live[a] {
				t.Fatalf("new checkpoint wrote over block %d of the previous one", a)
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
	j = mustOpen(t, s)
	if err := j.GridFault(); err != nil {
		t.Fatalf("grid fault after a new checkpoint: %v", err)
	}
	if got, err := j.ReadCheckpoint(CheckpointData{}); err != nil || !bytes.Equal(got.State, blob(4, 70000)) {
		t.Fatalf("checkpoint after rebuild: %v", err)
	}
}

// TestCheckpointSharesUnchangedBlocks: a checkpoint writes only the
// blocks whose bytes changed since the durable one (and its indexes and
// free set); segments keep a grown segment from shifting the next one's
// blocks; the sharing survives a reopen; every checkpoint reads back whole.
func TestCheckpointSharesUnchangedBlocks(t *testing.T) {
	s := newFormatted(t, 26, MemoryFaults{LatencyMax: 2})
	j := mustOpen(t, s)
	root := j.Superblock().VSR.CheckpointChecksum
	pm := int(ConfigTest.GridBlockSize - 256)
	// A header, a fixed-size table and a log that grows.
	head, table, log := blob(1, 32), blob(2, 10*pm), blob(3, 20*pm+100)
	state := func() CheckpointData {
		b := append(append(append([]byte(nil), head...), table...), log...)
		return CheckpointData{State: b, StateSegments: []int{len(head), len(head) + len(table)}, Sessions: blob(4, 300)}
	}
	check := func(op uint64, wantWritten, wantShared uint64) {
		t.Helper()
		before := j.CheckpointStats()
		data := state()
		if err := j.Checkpoint(op, root, data); err != nil {
			t.Fatal(err)
		}
		after := j.CheckpointStats()
		if w, sh := after.Written-before.Written, after.Shared-before.Shared; w != wantWritten || sh != wantShared {
			t.Fatalf("checkpoint at %d: wrote %d blocks and shared %d, want %d and %d", op, w, sh, wantWritten, wantShared)
		}
		got, err := j.ReadCheckpoint(CheckpointData{})
		if err != nil || !bytes.Equal(got.State, data.State) || !bytes.Equal(got.Sessions, data.Sessions) {
			t.Fatalf("checkpoint at %d reads back wrong: %v", op, err)
		}
	}
	// First: head 1 + table 10 + log 21 + 3 indexes, sessions 1 + 1 index,
	// free set 1 + 1 index.
	check(0, 1+10+21+1+2+2, 0)
	// The header changes, one table block changes, the log grows by two
	// blocks: its last block changes too.
	head[0]++
	table[3*pm+7]++
	log = append(log, blob(5, 2*pm)...)
	// head 1, table 1, log: last 1 + 2 new, index 1; sessions shared + index
	// 1; free set 2.
	check(0, 1+1+3+1+1+2, 9+20+1)
	// After a reopen the indexes are read back: nothing changed but the
	// header, so the rest is shared.
	j = mustOpen(t, s)
	head[1]++
	check(0, 1+1+1+2, 10+23+1)
	// The table grows by a block: the log's blocks stay shared (blocks are
	// compared within their segment).
	table = append(table, blob(6, pm)...)
	// table's new block, indexes of state and sessions, free set 2; shared:
	// head, table 10, log 23, sessions 1.
	check(0, 1+1+1+2, 1+10+23+1)
}

// TestScrubberRewritesDamagedSharedBlock: a shared block damaged on disk
// is found by the scrubber within a bounded number of checkpoints and
// written again from memory; no checkpoint after that references it.
func TestScrubberRewritesDamagedSharedBlock(t *testing.T) {
	s := newFormatted(t, 27, MemoryFaults{})
	j := mustOpen(t, s)
	root := j.Superblock().VSR.CheckpointChecksum
	pm := int(ConfigTest.GridBlockSize - 256)
	data := CheckpointData{State: blob(1, 40*pm)}
	if err := j.Checkpoint(0, root, data); err != nil {
		t.Fatal(err)
	}
	bad := j.cur[RefState][29]
	s.FlipBit(j.layout.BlockOffset(bad.address)+500, 3)
	for i := 0; ; i++ {
		if i > 40/ScrubBlocksPerCheckpoint+2 {
			t.Fatal("the scrubber never reached the damaged block")
		}
		if err := j.Checkpoint(0, root, data); err != nil {
			t.Fatal(err)
		}
		if j.cur[RefState][29].address != bad.address {
			break
		}
	}
	if st := j.CheckpointStats(); st.ScrubbedBad != 1 {
		t.Fatalf("scrubbed bad %d", st.ScrubbedBad)
	}
	if got, err := j.ReadCheckpoint(CheckpointData{}); err != nil || !bytes.Equal(got.State, data.State) {
		t.Fatalf("checkpoint after the scrub: %v", err)
	}
}
