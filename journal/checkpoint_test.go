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
	// 50000 bytes need 7 blocks of 8 KiB - 256, sessions 1, free set 1.
	if a, _ := j.GridUsage(); a != 9 {
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
	if err := j.Checkpoint(0, root, CheckpointData{State: blob(7, n*5/8*pm)}); !errors.Is(err, ErrGridFull) {
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
	l := j.layout
	// Misdirected: block 2's bytes at the head block's address.
	saved := append([]byte(nil), s.Data()[l.BlockOffset(ref.Address):l.BlockOffset(ref.Address)+uint64(l.Config.GridBlockSize)]...)
	next := ref.Address + 1
	copy(s.Data()[l.BlockOffset(ref.Address):], s.Data()[l.BlockOffset(next):l.BlockOffset(next)+uint64(l.Config.GridBlockSize)])
	if _, err := j.ReadCheckpoint(CheckpointData{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("misdirected block: %v", err)
	}
	copy(s.Data()[l.BlockOffset(ref.Address):], saved)
	if _, err := j.ReadCheckpoint(CheckpointData{}); err != nil {
		t.Fatalf("restored: %v", err)
	}
	// Bit rot in the last block's payload.
	s.FlipBit(l.BlockOffset(ref.Address+3)+1000, 5)
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
	data := CheckpointData{State: blob(1, int(sizes.State)), Sessions: blob(2, int(sizes.Sessions))}
	for i := range 3 {
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
	s.FlipBit(j.layout.BlockOffset(refs[RefFreeSet].Address)+300, 2)
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
