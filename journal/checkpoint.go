package journal

import (
	"fmt"

	"github.com/chronon-db/chronon/internal/invariants"
	"github.com/chronon-db/chronon/wire"
)

// CheckpointData is what the replica checkpoints: opaque blobs produced by
// the state machine and the client table. Either may be empty.
type CheckpointData struct {
	// State is the state machine's snapshot.
	State []byte
	// Sessions is the client table.
	Sessions []byte
}

// Checkpoint durably records a checkpoint at op (whose prepare has the given
// checksum): it writes the blobs and a new free set into grid blocks that
// the current checkpoint does not use, syncs, then writes the superblock
// that references them. Only after that superblock is durable do the
// previous checkpoint's blocks become free (for the next checkpoint), so a
// crash at any point leaves either the old or the new checkpoint intact.
// commit_min and commit_max are raised to op when below it. Errors wrap
// ErrGridFull when the blobs do not fit next to the current checkpoint.
func (j *Journal) Checkpoint(op uint64, checksum wire.Uint128, data CheckpointData) error {
	j.checkWritable()
	prev := &j.sb.VSR
	if op < prev.CheckpointOp || (op == prev.CheckpointOp && checksum != prev.CheckpointChecksum) {
		invariants.Failf("journal: checkpoint at op %d after checkpoint %d", op, prev.CheckpointOp)
	}
	invariants.Assert(!prev.Truncating, "journal: checkpoint while a truncation is recorded")
	blobs := [refCount][]byte{RefState: data.State, RefSessions: data.Sessions}
	invariants.Assert(j.staging.count == j.acquired.count, "journal: staging and durable free sets of different grids")
	j.staging.reset()
	next := *prev
	next.CheckpointOp, next.CheckpointChecksum = op, checksum
	next.CommitMin, next.CommitMax = max(next.CommitMin, op), max(next.CommitMax, op)
	invariants.Assert(next.CheckpointOp <= next.CommitMin && next.CommitMin <= next.CommitMax, "journal: checkpoint above its commit numbers")

	var addresses []uint64
	alloc := func(n int) ([]uint64, error) {
		addresses = addresses[:0]
		for a := uint64(1); a <= uint64(j.layout.Config.GridBlockCount) && len(addresses) < n; a++ {
			if !j.acquired.isAcquired(a) && !j.staging.isAcquired(a) {
				addresses = append(addresses, a)
			}
		}
		if len(addresses) < n {
			return nil, fmt.Errorf("%w: need %d more blocks, %d free beside the current checkpoint", ErrGridFull, n, len(addresses))
		}
		for _, a := range addresses {
			invariants.Assert(!j.acquired.isAcquired(a), "journal: checkpoint allocates a block of the durable checkpoint")
			j.staging.acquire(a)
		}
		return addresses, nil
	}
	for _, i := range [...]int{RefSessions, RefState} {
		a, err := alloc(j.blocksFor(len(blobs[i])))
		if err != nil {
			return err
		}
		invariants.Assert(len(a) == j.blocksFor(len(blobs[i])), "journal: blob allocated another number of blocks")
		ref, err := j.writeBlob(BlockType(i+1), blobs[i], a, op)
		if err != nil {
			return err
		}
		next.Refs[i] = ref
	}
	// The free set's own blocks are acquired before it is encoded, so it
	// records itself.
	a, err := alloc(j.blocksFor(j.staging.encodedSize()))
	if err != nil {
		return err
	}
	// Free-set accounting: the staged blocks are exactly the new blobs'
	// (the free set's own included), none of them the durable
	// checkpoint's.
	staged := len(a)
	for _, i := range [...]int{RefSessions, RefState} {
		staged += j.blocksFor(len(blobs[i]))
	}
	invariants.Assert(j.staging.acquired() == staged, "journal: staged blocks differ from the checkpoint's blobs")
	if invariants.Enabled {
		invariants.Assert(j.staging.disjoint(&j.acquired), "journal: staged checkpoint shares blocks with the durable one")
	}
	j.blobBuf = j.staging.encode(j.blobBuf[:0])
	invariants.Assert(len(j.blobBuf) == j.staging.encodedSize() && cap(j.blobBuf) == j.acquired.encodedSize(), "journal: free set encoding outgrew its buffer")
	ref, err := j.writeBlob(BlockFreeSet, j.blobBuf, a, op)
	if err != nil {
		return err
	}
	next.Refs[RefFreeSet] = ref
	if err := j.io.sync(); err != nil {
		return err
	}
	if err := j.writeSuperblock(next); err != nil {
		return err
	}
	j.acquired.copyFrom(&j.staging)
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
// uses: its blobs and the free set that records them.
func (c Config) CheckpointBlocksMax(s CheckpointSizes) uint64 {
	invariants.Assert(c.GridBlockSize > wire.HeaderSize, "journal: grid block without room for a payload")
	pm := uint64(c.GridBlockSize) - wire.HeaderSize
	blocks := func(n uint64) uint64 { return (n + pm - 1) / pm }
	freeSet := (uint64(c.GridBlockCount) + 7) / 8
	n := blocks(s.State) + blocks(s.Sessions) + blocks(freeSet)
	invariants.Assert(n >= 1, "journal: a checkpoint without even its free set's block")
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
