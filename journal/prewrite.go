package journal

import (
	"cmp"
	"fmt"

	"github.com/chronon-db/chronon/internal/invariants"
	"github.com/chronon-db/chronon/wire"
)

// StableSource is a state whose checkpoint blob (the state blob) has a
// segment with a stable prefix: bytes that every later snapshot repeats
// unchanged (an append-only log). statemachine.StableSnapshot is one.
type StableSource interface {
	// SnapshotStable returns the segment and the length of its stable
	// prefix.
	SnapshotStable() (segment, size int)
	// AppendSnapshotRange appends bytes [from, to) of that segment (to at
	// most the stable size) to dst.
	AppendSnapshotRange(dst []byte, from, to int) []byte
}

// Prewrite writes ahead, between checkpoints, up to max full data blocks of
// src's stable prefix that the durable checkpoint does not hold as full
// blocks at their place and no earlier Prewrite wrote, to grid blocks free
// beside the durable checkpoint. The next checkpoint takes a prewritten
// block instead of writing the same payload (it compares payload
// checksums; a block it does not take is freed), so a checkpoint's writes
// are spread over the interval before it instead of all at its op. Each
// block is durable when Prewrite returns (a durable write: no superblock
// write ever finds one pending); nothing references it until that
// checkpoint's superblock is durable, so a crash frees it. It returns the
// number of blocks written.
func (j *Journal) Prewrite(src StableSource, max int) (int, error) {
	j.checkWritable()
	invariants.Assert(max >= 0, "journal: prewrite of a negative number of blocks")
	invariants.Assert(!j.preInFlight, "journal: synchronous prewrite while one is in flight")
	seg, size := src.SnapshotStable()
	if seg < 0 || seg > SegmentsMax || size < 0 {
		invariants.Failf("journal: stable segment %d of %d bytes", seg, size)
	}
	pm := j.blockPayloadMax()
	written := 0
	for written < max {
		k, due := j.prewriteNext(seg, size)
		if !due {
			break
		}
		address := j.prewriteAddress()
		j.preBuf = src.AppendSnapshotRange(j.preBuf[:0], k*pm, (k+1)*pm)
		invariants.Assert(len(j.preBuf) == pm, "journal: stable source gave another length than asked")
		h, err := j.writeBlock(BlockState, address, j.preBuf, nil, j.sb.VSR.CheckpointOp, true)
		if err != nil {
			return written, err
		}
		j.pre = append(j.pre, blockEntry{address: address, size: uint32(pm), segment: uint32(seg), checksum: h.Checksum, body: h.ChecksumBody})
		written++
		j.gridPrewritten++
	}
	invariants.Assert(j.preSet.acquired() >= len(j.pre), "journal: prewritten blocks outside the prewrite set")
	return written, nil
}

// StableCovered returns the length of the longest prefix of the first
// size bytes of stable segment seg that the next checkpoint can take in
// full blocks without their bytes (CheckpointData.StableSkipped): blocks
// the durable checkpoint holds in its stable prefix (or their repairs),
// then blocks Prewrite wrote. A multiple of the block payload.
func (j *Journal) StableCovered(seg, size int) int {
	pm := j.blockPayloadMax()
	n := 0
	if held, heldSize := j.StableHeld(); held == seg && held >= 0 {
		n = min(heldSize, size) / pm
	}
	if seg == j.preSegment && j.preBase <= n {
		for n < j.preBase+len(j.pre) && (n+1)*pm <= size && j.preSet.isAcquired(j.pre[n-j.preBase].address) {
			n++
		}
	}
	invariants.Assert(n*pm <= max(0, size), "journal: stable bytes covered beyond the stable prefix")
	return n * pm
}

// prewriteAddress acquires, in the prewrite set, a free block for a block
// written ahead: not the durable checkpoint's, not written ahead, not a
// repair (prewriteNext saw one: fewer than half the free blocks are
// written ahead).
func (j *Journal) prewriteAddress() uint64 {
	address := j.freeBlock(j.preCursor + 1)
	invariants.Assert(address != 0 && address <= uint64(j.layout.Config.GridBlockCount), "journal: prewrite beyond the grid")
	j.preCursor = address - 1
	j.preSet.acquire(address)
	return address
}

// SubmitPrewrite is Prewrite of one block without waiting for it: it
// starts the durable write of the next block due, if any, and reports
// whether it did. The block counts as written ahead (StableCovered, the
// next checkpoint) once durable; then cb runs, from the storage's Tick,
// with the write's error (a failed write is the disk failing). One is in
// flight at a time (PrewriteInFlight), beside the WAL's writes; Checkpoint
// needs none in flight (AwaitPrewrite).
func (j *Journal) SubmitPrewrite(src StableSource, cb func(error)) bool {
	// Beside a WAL write in flight: other blocks, its own buffer.
	invariants.Assert(!j.readOnly, "journal: prewrite on a read-only journal")
	invariants.Assert(!j.preInFlight && cb != nil, "journal: a prewrite submitted while one is in flight, or without a callback")
	seg, size := src.SnapshotStable()
	if seg < 0 || seg > SegmentsMax || size < 0 {
		invariants.Failf("journal: stable segment %d of %d bytes", seg, size)
	}
	k, due := j.prewriteNext(seg, size)
	if !due {
		return false
	}
	pm := j.blockPayloadMax()
	address := j.prewriteAddress()
	j.preBuf = src.AppendSnapshotRange(j.preBuf[:0], k*pm, (k+1)*pm)
	invariants.Assert(len(j.preBuf) == pm, "journal: stable source gave another length than asked")
	h, n := j.sealBlock(j.preBlock, BlockState, address, j.preBuf, nil, j.sb.VSR.CheckpointOp)
	j.preInFlight, j.preCB = true, cb
	j.preFlight = blockEntry{address: address, size: uint32(pm), segment: uint32(seg), checksum: h.Checksum, body: h.ChecksumBody}
	j.storage.WriteDurable(j.preBlock[:n], j.layout.BlockOffset(address), j.preDone)
	return true
}

// prewritten1 completes SubmitPrewrite's write.
func (j *Journal) prewritten1(err error) {
	invariants.Assert(j.preInFlight && j.preSet.isAcquired(j.preFlight.address), "journal: a prewrite completed that was not in flight")
	j.preInFlight = false
	if err == nil {
		invariants.Assert(len(j.pre) < cap(j.pre), "journal: prewrites beyond their buffer")
		j.pre = append(j.pre, j.preFlight)
		j.gridPrewritten++
		j.gridWrittenBlocks++
		j.gridWritten += sectorRound(uint64(j.preFlight.size) + wire.HeaderSize)
	} else {
		j.preSet.release(j.preFlight.address)
		err = fmt.Errorf("%w: block written ahead: %w", ErrIO, err)
		j.preErr = cmp.Or(j.preErr, err)
	}
	cb := j.preCB
	j.preCB = nil
	j.io.completing = true
	cb(err)
	j.io.completing = false
}

// PrewriteInFlight reports whether a SubmitPrewrite write is in flight.
func (j *Journal) PrewriteInFlight() bool { return j.preInFlight }

// AwaitPrewrite waits until no SubmitPrewrite write is in flight (its
// callback has run) and returns the error of a prewrite that failed since
// the last call (the disk failing: a synchronous step that waits for it
// fails with it).
func (j *Journal) AwaitPrewrite() error {
	j.preAwaiting = true
	for i := 0; j.preInFlight; i++ {
		if i == waitTicksMax {
			panic("journal: storage did not complete a block written ahead")
		}
		j.storage.Tick()
	}
	j.preAwaiting = false
	invariants.Assert(!j.preInFlight && j.preCB == nil, "journal: prewrite reported done while in flight")
	err := j.preErr
	j.preErr = nil
	return err
}

// AwaitingPrewrite reports whether AwaitPrewrite is waiting: a prewrite's
// callback that sees an error then leaves it to the step waiting.
func (j *Journal) AwaitingPrewrite() bool { return j.preAwaiting }

// PrewriteDue reports whether Prewrite(src) would write a block now (never
// while one is in flight). It costs O(1) but after a checkpoint or when
// src's stable segment changes.
func (j *Journal) PrewriteDue(src StableSource) bool {
	if j.preInFlight {
		return false
	}
	seg, size := src.SnapshotStable()
	invariants.Assert(seg >= 0 && seg <= SegmentsMax && size >= 0, "journal: stable source names no segment")
	_, due := j.prewriteNext(seg, size)
	return due
}

// prewriteNext returns the block of the stable segment seg (of size bytes)
// to write ahead next, and whether one is due: it is full, and fewer than
// half the blocks free beside the durable checkpoint are written ahead
// (the checkpoint's own writes keep the rest). When seg is another
// segment than the prewrites', or the stable bytes went back (the source
// was restored), the prewrites start again from the durable checkpoint's
// full blocks.
func (j *Journal) prewriteNext(seg, size int) (k int, due bool) {
	pm := j.blockPayloadMax()
	if seg != j.preSegment || size < (j.preBase+len(j.pre))*pm {
		j.releaseUnusedPrewrites()
		j.preSegment, j.preBase, j.preCursor = seg, j.fullBlocks(seg), 0
	}
	invariants.Assert(j.preBase >= 0 && len(j.pre) <= cap(j.pre), "journal: prewrites out of their bounds")
	k = j.preBase + len(j.pre)
	free := int(j.layout.Config.GridBlockCount) - j.acquired.acquired() - j.repSet.acquired()
	return k, (k+1)*pm <= size && len(j.pre) < cap(j.pre) && 2*(j.preSet.acquired()+1) <= free
}

// prewritten returns the prewritten block for block k of segment seg of a
// blob of type t, when its payload has that size and checksum.
func (j *Journal) prewritten(t BlockType, seg, k, size int, body wire.Uint128) *blockEntry {
	if t != BlockState || seg != j.preSegment || k < j.preBase || k-j.preBase >= len(j.pre) {
		return nil
	}
	e := &j.pre[k-j.preBase]
	invariants.Assert(e.segment == uint32(seg), "journal: a prewritten block of another segment")
	if e.size != uint32(size) || e.body != body || !j.preSet.isAcquired(e.address) {
		return nil
	}
	invariants.Assert(!j.acquired.isAcquired(e.address) && !j.staging.isAcquired(e.address), "journal: a prewritten block is the durable checkpoint's or staged")
	return e
}

// releaseUnusedPrewrites frees the prewritten blocks no checkpoint took and
// forgets every prewrite; it returns the number freed.
func (j *Journal) releaseUnusedPrewrites() int {
	invariants.Assert(!j.preInFlight, "journal: prewrites released while one is in flight")
	n := 0
	invariants.Assert(len(j.pre) <= cap(j.pre), "journal: prewrites beyond their buffer")
	for i := range j.pre {
		if a := j.pre[i].address; j.preSet.isAcquired(a) {
			j.preSet.release(a)
			n++
		}
	}
	j.pre = j.pre[:0]
	invariants.Assert(j.preSet.acquired() == 0, "journal: prewritten blocks left after their release")
	return n
}

// fullBlocks returns the number of leading full blocks of segment seg of
// the durable checkpoint's state blob (0 when its index is not known).
func (j *Journal) fullBlocks(seg int) int {
	if !j.curKnown {
		return 0
	}
	pm := uint32(j.blockPayloadMax())
	invariants.Assert(seg >= 0 && seg <= SegmentsMax, "journal: full blocks of no segment")
	n := 0
	for _, e := range j.cur[RefState] {
		switch {
		case e.segment < uint32(seg):
			continue
		case e.segment > uint32(seg) || e.size != pm:
			return n
		}
		n++
	}
	invariants.Assert(n <= len(j.cur[RefState]), "journal: more full blocks than the state holds")
	return n
}

// afterCheckpoint forgets the prewrites once a checkpoint is durable: the
// ones it took are its blocks now, the others are freed.
func (j *Journal) afterCheckpoint() {
	invariants.Assert(j.curKnown, "journal: prewrites reset before the checkpoint is known")
	j.releaseUnusedPrewrites()
	j.forgetRepairs()
	j.preCursor, j.preBase = 0, 0
	if j.preSegment >= 0 {
		j.preBase = j.fullBlocks(j.preSegment)
	}
	invariants.Assert(len(j.pre) == 0 && j.preSet.acquired() == 0, "journal: prewrites left after a checkpoint")
}

// Prewritten reports whether grid block address holds a block written
// ahead for the next checkpoint (Prewrite) that no checkpoint took yet.
func (j *Journal) Prewritten(address uint64) bool {
	invariants.Assert(address != 0 && address <= uint64(j.layout.Config.GridBlockCount), "journal: prewritten lookup outside the grid")
	in := j.preSet.isAcquired(address)
	invariants.Assert(!in || !j.acquired.isAcquired(address), "journal: a prewritten block is the durable checkpoint's")
	return in
}
