package journal

import (
	"fmt"

	"github.com/chronon-db/chronon/internal/invariants"
	"github.com/chronon-db/chronon/wire"
)

// SegmentsMax is the most segments a state blob may be cut into
// (CheckpointData.StateSegments; statemachine.SegmentsMax).
const SegmentsMax = 16

// ScrubBlocksPerCheckpoint is how many shared blocks each checkpoint reads
// back and verifies before referencing them again, in turn over the whole
// checkpoint: a block damaged on disk is then written again from memory
// within (blocks / ScrubBlocksPerCheckpoint) checkpoints instead of being
// carried forward until a restart reads it.
const ScrubBlocksPerCheckpoint = 8

// CheckpointData is what the replica checkpoints: opaque blobs produced by
// the state machine and the client table. Either may be empty.
type CheckpointData struct {
	// State is the state machine's snapshot.
	State []byte
	// StateSegments optionally cuts State into segments that change
	// independently (the ends of each, not decreasing, the last at most
	// len(State); at most SegmentsMax). No grid block spans a segment
	// boundary, so a segment whose bytes did not change since the last
	// checkpoint keeps its blocks even when another segment grew.
	StateSegments []int
	// StableSegment and StableSize, when StableSize > 0, name a stable
	// prefix of one segment of State (StableSource): bytes that every
	// later checkpoint repeats. A full block inside it that the previous
	// checkpoint held inside its stable prefix, or that Prewrite wrote, is
	// taken without checksumming its bytes again.
	StableSegment, StableSize int
	// StableOmitted is how many leading bytes of the stable prefix State
	// does not hold (whatever it has there is not read): at most
	// StableHeld's size, a multiple of StableUnit. Their blocks are the
	// durable checkpoint's, referenced again.
	StableOmitted int
	// StableSkipped, when above StableOmitted, is how many leading bytes
	// of the stable prefix State does not hold in all (whatever it has
	// there is not read): the omitted ones and, after them, blocks
	// Prewrite wrote, which the checkpoint takes unread. At most
	// StableCovered's length, a multiple of the block payload.
	StableSkipped int
	// StableOffset is where the omitted bytes start in State (set by
	// ReadCheckpointOmitting; Checkpoint does not read it).
	StableOffset int
	// Sessions is the client table.
	Sessions []byte
}

// CheckpointStats counts the grid blocks checkpoints wrote and shared since
// the journal was opened.
type CheckpointStats struct {
	// Written counts blocks written (data, index and free set blocks);
	// Shared counts data blocks a checkpoint referenced again unchanged
	// instead of writing them.
	Written, Shared uint64
	// BytesWritten is the bytes of those writes (whole sectors).
	BytesWritten uint64
	// ScrubbedBad counts shared blocks that failed verification when the
	// scrubber read them, and were written again.
	ScrubbedBad uint64
	// Prewritten counts blocks written ahead between checkpoints
	// (Prewrite, included in Written and BytesWritten); PrewriteUsed those
	// a checkpoint took instead of writing them.
	Prewritten, PrewriteUsed uint64
}

// CheckpointStats returns the journal's checkpoint counters.
func (j *Journal) CheckpointStats() CheckpointStats {
	invariants.Assert(j.gridWritten >= j.gridWrittenBlocks, "journal: fewer bytes than blocks written")
	invariants.Assert(j.gridPrewriteUsed <= j.gridPrewritten, "journal: more prewritten blocks taken than written")
	return CheckpointStats{Written: j.gridWrittenBlocks, Shared: j.gridShared, BytesWritten: j.gridWritten, ScrubbedBad: j.gridScrubbedBad,
		Prewritten: j.gridPrewritten, PrewriteUsed: j.gridPrewriteUsed}
}

// Checkpoint durably records a checkpoint at op (whose prepare has the given
// checksum): it writes the blobs and a new free set into grid blocks that
// the current checkpoint does not use — except that a data block whose
// payload equals the current checkpoint's block at the same position of
// the same blob is referenced again, not written (the scrubber reads some
// of them back first) — syncs, then writes the superblock that references
// them. Only after that superblock is durable do the previous checkpoint's
// blocks that the new one does not share become free (for the next
// checkpoint), so a crash at any point leaves either the old or the new
// checkpoint intact. commit_min and commit_max are raised to op when below
// it. Errors wrap ErrGridFull when the blobs do not fit next to the
// current checkpoint.
func (j *Journal) Checkpoint(op uint64, checksum wire.Uint128, data CheckpointData) error {
	j.checkWritable()
	prev := &j.sb.VSR
	if op < prev.CheckpointOp || (op == prev.CheckpointOp && checksum != prev.CheckpointChecksum) {
		invariants.Failf("journal: checkpoint at op %d after checkpoint %d", op, prev.CheckpointOp)
	}
	invariants.Assert(!prev.Truncating, "journal: checkpoint while a truncation is recorded")
	checkSegments(len(data.State), data.StateSegments)
	invariants.Assert(!j.preInFlight, "journal: checkpoint with a block written ahead in flight")
	invariants.Assert(j.staging.count == j.acquired.count, "journal: staging and durable free sets of different grids")
	j.staging.reset()
	j.next = j.next[:0]
	next := *prev
	next.CheckpointOp, next.CheckpointChecksum = op, checksum
	next.CommitMin, next.CommitMax = max(next.CommitMin, op), max(next.CommitMax, op)
	invariants.Assert(next.CheckpointOp <= next.CommitMin && next.CommitMin <= next.CommitMax, "journal: checkpoint above its commit numbers")

	var nextRefs [refCount][]blockEntry
	alloc := gridAlloc{}
	j.scrubPos = 0
	writes := [...]blobWrite{
		{t: BlockSessions, data: data.Sessions},
		{t: BlockState, data: data.State, ends: data.StateSegments, stableSeg: -1},
	}
	if data.StableSize > 0 {
		if data.StableSegment < 0 || data.StableSegment > len(data.StateSegments) {
			invariants.Failf("journal: stable segment %d of a state in %d segments", data.StableSegment, len(data.StateSegments)+1)
		}
		writes[1].stableSeg, writes[1].stableSize = data.StableSegment, data.StableSize
	}
	if data.StableOmitted != 0 {
		held, heldSize := j.StableHeld()
		if data.StableOmitted < 0 || data.StableOmitted%j.blockPayloadMax() != 0 || held != data.StableSegment ||
			data.StableOmitted > heldSize || data.StableOmitted > data.StableSize {
			invariants.Failf("journal: %d stable bytes omitted of segment %d, the durable checkpoint holds %d of segment %d", data.StableOmitted, data.StableSegment, heldSize, held)
		}
		writes[1].omitted = data.StableOmitted
	}
	writes[1].skipped = writes[1].omitted
	if data.StableSkipped > data.StableOmitted {
		if data.StableSkipped%j.blockPayloadMax() != 0 || data.StableSkipped > j.StableCovered(data.StableSegment, data.StableSize) {
			invariants.Failf("journal: %d stable bytes skipped of segment %d, %d covered", data.StableSkipped, data.StableSegment, j.StableCovered(data.StableSegment, data.StableSize))
		}
		writes[1].skipped = data.StableSkipped
	}
	invariants.Assert(writes[1].skipped >= writes[1].omitted && writes[1].skipped <= max(0, data.StableSize), "journal: skipped stable bytes outside the stable prefix")
	for _, w := range writes {
		i := int(w.t) - 1
		if j.curKnown {
			w.prev = j.cur[i]
		}
		ref, entries, err := j.writeBlob(w, &alloc, op)
		if err != nil {
			return err
		}
		next.Refs[i], nextRefs[i] = ref, entries
	}
	// The free set's own blocks are acquired before it is encoded, so it
	// records itself.
	fsData := j.blocksFor(j.staging.encodedSize(), nil)
	fixed := j.fixedBuf[:0]
	for range fsData + j.indexBlocksFor(fsData) {
		a, err := j.allocBlock(&alloc)
		if err != nil {
			return err
		}
		fixed = append(fixed, a)
	}
	// Free-set accounting: the staged blocks are exactly the new blobs'
	// data and index blocks (the free set's own included).
	staged := len(fixed)
	for _, w := range writes {
		n := len(nextRefs[int(w.t)-1])
		staged += n + j.indexBlocksFor(n)
	}
	invariants.Assert(j.staging.acquired() == staged, "journal: staged blocks differ from the checkpoint's blobs")
	j.blobBuf = j.staging.encode(j.blobBuf[:0])
	invariants.Assert(len(j.blobBuf) == j.staging.encodedSize() && cap(j.blobBuf) == j.acquired.encodedSize(), "journal: free set encoding outgrew its buffer")
	fsAlloc := gridAlloc{fixed: fixed}
	ref, entries, err := j.writeBlob(blobWrite{t: BlockFreeSet, data: j.blobBuf}, &fsAlloc, op)
	if err != nil {
		return err
	}
	invariants.Assert(len(fsAlloc.fixed) == 0, "journal: free set written in fewer blocks than it reserved")
	next.Refs[RefFreeSet], nextRefs[RefFreeSet] = ref, entries
	if err := j.io.sync(); err != nil {
		return err
	}
	if err := j.writeSuperblock(next); err != nil {
		return err
	}
	j.acquired.copyFrom(&j.staging)
	j.cur, j.curKnown = nextRefs, true
	j.afterCheckpoint()
	j.knowStable()
	invariants.Assert(j.curStableSize <= max(0, writes[1].stableSize), "journal: more stable blocks than the stable prefix")
	j.curBuf, j.next = j.next, j.curBuf[:0]
	j.scrubCursor += ScrubBlocksPerCheckpoint
	if j.scrubCursor >= j.scrubPos {
		j.scrubCursor = 0
	}
	j.gridFault = nil
	invariants.Assert(j.sb.VSR.CheckpointOp == op && j.sb.VSR.Refs == next.Refs, "journal: checkpoint not recorded in the superblock")
	j.checkState()
	return nil
}

// ReadCheckpoint reads the current checkpoint's blobs, appending each to
// the matching slice of dst (callers pass buffers with capacity to avoid
// allocation). Every block is verified by (address, checksum).
func (j *Journal) ReadCheckpoint(dst CheckpointData) (CheckpointData, error) {
	refs := &j.sb.VSR.Refs
	invariants.Assert(BlockSessions == RefSessions+1 && BlockState == RefState+1, "journal: block types do not follow the references")
	n0 := len(dst.Sessions) + len(dst.State)
	var err error
	if dst.Sessions, err = j.ReadBlob(refs[RefSessions], BlockSessions, dst.Sessions); err != nil {
		return dst, fmt.Errorf("client sessions: %w", err)
	}
	if dst.State, err = j.ReadBlob(refs[RefState], BlockState, dst.State); err != nil {
		return dst, fmt.Errorf("state: %w", err)
	}
	n := uint64(len(dst.Sessions) + len(dst.State) - n0)
	invariants.Assert(n == refs[RefSessions].Size+refs[RefState].Size, "journal: checkpoint read has another size than its references")
	return dst, nil
}

// CheckpointSizes are the largest blobs a checkpoint may hold: each
// producer's bound for its fullest state (statemachine.StateMachine's
// SnapshotSizeMax, the client table's).
type CheckpointSizes struct {
	State, Sessions uint64
}

// CheckpointBlocksMax returns the grid blocks one checkpoint of at most s
// uses: its blobs' data blocks (a state cut into SegmentsMax+1 segments),
// their index blocks, and the free set that records them.
func (c Config) CheckpointBlocksMax(s CheckpointSizes) uint64 {
	invariants.Assert(c.GridBlockSize > wire.HeaderSize, "journal: grid block without room for a payload")
	pm := uint64(c.GridBlockSize) - wire.HeaderSize
	per := pm / indexEntrySize
	blocks := func(n, segments uint64) uint64 {
		if n == 0 {
			return 0
		}
		// The most blocks: every segment but one a few bytes long.
		d := (n + min(segments, n)*(pm-1)) / pm
		return d + (d+per-1)/per
	}
	freeSet := (uint64(c.GridBlockCount) + 7) / 8
	n := blocks(s.State, SegmentsMax+1) + blocks(s.Sessions, 1) + blocks(freeSet, 1)
	invariants.Assert(n >= 2, "journal: a checkpoint without even its free set's blocks")
	return n
}

// CheckGrid returns an error wrapping ErrGridFull when the grid of c cannot
// hold two checkpoints of at most s: a checkpoint is written next to the
// current one, whose blocks stay until the new one is durable. A replica
// checks this before it starts, so that a checkpoint never finds the grid
// full: the state machine refuses work when it reaches its capacity.
func (c Config) CheckGrid(s CheckpointSizes) error {
	need := 2 * c.CheckpointBlocksMax(s)
	if need > uint64(c.GridBlockCount) {
		return fmt.Errorf("%w: two checkpoints of the largest state (state %d, client sessions %d bytes) need %d grid blocks of %d bytes, the data file has %d; format it with a larger grid or configure a smaller state machine",
			ErrGridFull, s.State, s.Sessions, need, c.GridBlockSize, c.GridBlockCount)
	}
	invariants.Assert(need <= uint64(c.GridBlockCount), "journal: grid accepted for more blocks than it has")
	return nil
}

// BlobLayout describes one blob of the durable checkpoint as its index
// lists it.
type BlobLayout struct {
	// Size is the blob's length; DataBlocks and IndexBlocks its blocks;
	// Segments the segments its data blocks belong to.
	Size                              uint64
	DataBlocks, IndexBlocks, Segments int
}

// CheckpointLayout returns the layout of each blob of the durable
// checkpoint (indexed by Ref*); ok is false when the indexes could not be
// read at Open.
func (j *Journal) CheckpointLayout() (l [refCount]BlobLayout, ok bool) {
	if !j.curKnown {
		return l, false
	}
	invariants.Assert(len(j.curBuf) <= int(j.layout.Config.GridBlockCount), "journal: checkpoint lists more blocks than the grid holds")
	for i, entries := range j.cur {
		b := &l[i]
		b.Size, b.DataBlocks, b.IndexBlocks = j.sb.VSR.Refs[i].Size, len(entries), j.indexBlocksFor(len(entries))
		for k := range entries {
			if k == 0 || entries[k].segment != entries[k-1].segment {
				b.Segments++
			}
		}
		invariants.Assert(b.Segments <= SegmentsMax+1 && (b.DataBlocks == 0) == (b.Size == 0), "journal: blob layout out of its bounds")
	}
	return l, true
}
