package journal

import (
	"fmt"

	"github.com/chronon-db/chronon/internal/invariants"
	"github.com/chronon-db/chronon/wire"
)

// BlockType says what a grid block holds. Stored in the block header's
// Reason byte.
type BlockType uint8

// Block types: one per checkpoint blob (Ref* index + 1).
const (
	BlockFreeSet  BlockType = RefFreeSet + 1
	BlockSessions BlockType = RefSessions + 1
	BlockState    BlockType = RefState + 1
)

// A grid block starts with a wire.Header used as follows: Command block,
// Cluster, Op = the block's own address, Commit = the checkpoint op that
// wrote it, Reason = BlockType, Size = 256 + payload length, OpMin and
// Parent = address and checksum of the next block of the blob (0 at the
// end), ChecksumBody over the payload, Checksum over header bytes [16, 256).
// The checksum is what references store, so a stale or misdirected block
// never verifies.

// blockPayloadMax returns the payload bytes one block carries.
func (j *Journal) blockPayloadMax() int {
	pm := int(j.layout.Config.GridBlockSize) - wire.HeaderSize
	invariants.Assert(pm > 0 && pm%8 == 0, "journal: grid block without room for a payload")
	return pm
}

// blocksFor returns the number of blocks a blob of n bytes needs.
func (j *Journal) blocksFor(n int) int {
	invariants.Assert(n >= 0, "journal: negative blob size")
	pm := j.blockPayloadMax()
	b := (n + pm - 1) / pm
	invariants.Assert(b*pm >= n && (b == 0 || (b-1)*pm < n), "journal: block count does not cover the blob exactly")
	return b
}

// checkBlockType panics unless t names a checkpoint blob.
func checkBlockType(t BlockType) {
	invariants.Assert(t >= BlockFreeSet && t <= BlockState, "journal: unknown grid block type")
}

// writeBlob writes data into the blocks at addresses (one per block, all
// acquired by the caller) and returns the blob's reference. It writes the
// last block first, since each block names its successor's checksum. The
// caller syncs.
func (j *Journal) writeBlob(t BlockType, data []byte, addresses []uint64, checkpointOp uint64) (BlobRef, error) {
	if len(addresses) != j.blocksFor(len(data)) {
		invariants.Failf("journal: blob of %d bytes given %d blocks", len(data), len(addresses))
	}
	checkBlockType(t)
	invariants.Assert(checkpointOp >= j.sb.VSR.CheckpointOp, "journal: blob written for a checkpoint older than the durable one")
	if len(data) == 0 {
		return BlobRef{}, nil
	}
	pm := j.blockPayloadMax()
	var next wire.Header
	for i := len(addresses) - 1; i >= 0; i-- {
		// The block must be reserved for the checkpoint being written and
		// not hold one of the durable checkpoint's blocks.
		if !j.staging.isAcquired(addresses[i]) || j.acquired.isAcquired(addresses[i]) {
			invariants.Failf("journal: blob written to grid block %d, which is not staged or belongs to the durable checkpoint", addresses[i])
		}
		payload := data[i*pm : min(len(data), (i+1)*pm)]
		h := wire.Header{
			Cluster:  j.sb.Cluster,
			Op:       addresses[i],
			Commit:   checkpointOp,
			Size:     uint32(wire.HeaderSize + len(payload)),
			Protocol: wire.ProtocolVersion,
			Command:  wire.CommandBlock,
			Reason:   uint8(t),
		}
		if i+1 < len(addresses) {
			h.OpMin, h.Parent = next.Op, next.Checksum
		}
		invariants.Assert((i+1 < len(addresses)) == (h.OpMin != 0), "journal: blob chain link missing or past its end")
		clear(j.blockBuf)
		copy(j.blockBuf[wire.HeaderSize:], payload)
		wire.Seal(&h, j.blockBuf[:h.Size])
		invariants.Assert(h.Size > wire.HeaderSize && h.Size <= j.layout.Config.GridBlockSize, "journal: grid block size out of range")
		if invariants.Enabled {
			// Paired with readBlock: what is written verifies as read.
			if err := verifyBlock(j.blockBuf, h.Op, h.Checksum, t, j.sb.Cluster); err != nil {
				invariants.Failf("journal: grid block %d does not verify before its write: %v", h.Op, err)
			}
		}
		n := sectorRound(uint64(h.Size))
		if err := j.io.write(j.blockBuf[:n], j.layout.BlockOffset(h.Op)); err != nil {
			return BlobRef{}, err
		}
		next = h
	}
	invariants.Assert(next.Op == addresses[0] && (next.OpMin == 0) == (len(addresses) == 1), "journal: blob chain does not start at its first block")
	return BlobRef{Address: next.Op, Size: uint64(len(data)), Checksum: next.Checksum}, nil
}

// readBlock reads block address into j.blockBuf and verifies it against
// the expected checksum. It returns the decoded header.
func (j *Journal) readBlock(address uint64, checksum wire.Uint128, t BlockType) (wire.Header, error) {
	var h wire.Header
	if address == 0 || address > uint64(j.layout.Config.GridBlockCount) {
		return h, fmt.Errorf("%w: grid address %d out of range", ErrCorrupt, address)
	}
	if err := j.io.read(j.blockBuf, j.layout.BlockOffset(address)); err != nil {
		return h, err
	}
	if err := verifyBlock(j.blockBuf, address, checksum, t, j.sb.Cluster); err != nil {
		return h, err
	}
	h.Decode(j.blockBuf)
	// What verifyBlock guarantees of a block it accepts.
	invariants.Assert(h.Op == address && h.Checksum == checksum, "journal: verified grid block has another address or checksum")
	invariants.Assert(BlockType(h.Reason) == t && int(h.Size) <= len(j.blockBuf), "journal: verified grid block has another type or size")
	return h, nil
}

// verifyBlock checks a grid block read from address against its reference
// checksum. It never panics.
func verifyBlock(raw []byte, address uint64, checksum wire.Uint128, t BlockType, cluster wire.Uint128) error {
	invariants.Assert(address != 0, "journal: grid block verified at address 0")
	checkBlockType(t)
	if len(raw) < wire.HeaderSize {
		return fmt.Errorf("%w: short grid block", ErrCorrupt)
	}
	sum := wire.Checksum(raw[16:wire.HeaderSize])
	if sum != getU128(raw) {
		return fmt.Errorf("%w: grid block %d: header checksum mismatch", ErrCorrupt, address)
	}
	if sum != checksum {
		return fmt.Errorf("%w: grid block %d: checksum %s, reference wants %s (stale or misdirected)", ErrCorrupt, address, sum, checksum)
	}
	var h wire.Header
	h.Decode(raw)
	switch {
	case h.Command != wire.CommandBlock || h.Cluster != cluster || h.Protocol != wire.ProtocolVersion:
		return fmt.Errorf("%w: grid block %d: not a block of this cluster", ErrCorrupt, address)
	case h.Op != address:
		return fmt.Errorf("%w: grid block at %d claims address %d (misdirected)", ErrCorrupt, address, h.Op)
	case BlockType(h.Reason) != t:
		return fmt.Errorf("%w: grid block %d has type %d, want %d", ErrCorrupt, address, h.Reason, t)
	case h.Size < wire.HeaderSize || int(h.Size) > len(raw):
		return fmt.Errorf("%w: grid block %d: size %d", ErrCorrupt, address, h.Size)
	}
	if wire.VerifyBody(&h, raw[wire.HeaderSize:h.Size]) != nil {
		return fmt.Errorf("%w: grid block %d: body checksum mismatch", ErrCorrupt, address)
	}
	return nil
}

// ReadBlob appends the blob referenced by ref to dst, verifying every block
// by (address, checksum) and the blob's length. Errors wrap ErrCorrupt.
func (j *Journal) ReadBlob(ref BlobRef, t BlockType, dst []byte) ([]byte, error) {
	checkBlockType(t)
	invariants.Assert(ref.Address <= uint64(j.layout.Config.GridBlockCount), "journal: read of a reference the superblock checks would reject")
	start := len(dst)
	out, err := j.readBlob(ref, t, dst, true, nil)
	invariants.Assert(err != nil || uint64(len(out)-start) == ref.Size, "journal: blob read has another length than its reference")
	return out, err
}

// walkBlob verifies the blob referenced by ref like ReadBlob without
// keeping its bytes, and calls visit with the address of every block the
// chain names, before reading it (so the address of a block that fails is
// visited too).
func (j *Journal) walkBlob(ref BlobRef, t BlockType, visit func(address uint64)) error {
	invariants.Assert(visit != nil, "journal: walkBlob without a visitor")
	invariants.Assert(ref.Address <= uint64(j.layout.Config.GridBlockCount), "journal: walk of a reference the superblock checks would reject")
	_, err := j.readBlob(ref, t, nil, false, visit)
	return err
}

func (j *Journal) readBlob(ref BlobRef, t BlockType, dst []byte, keep bool, visit func(uint64)) ([]byte, error) {
	invariants.Assert(keep || dst == nil, "journal: blob walk given a destination")
	invariants.Assert(!keep || visit == nil, "journal: blob both kept and walked")
	if ref.IsZero() {
		return dst, nil
	}
	start := len(dst)
	read := uint64(0)
	address, sum := ref.Address, ref.Checksum
	for i := uint32(0); ; i++ {
		if i == j.layout.Config.GridBlockCount {
			return dst, fmt.Errorf("%w: blob chain longer than the grid", ErrCorrupt)
		}
		if visit != nil && address != 0 && address <= uint64(j.layout.Config.GridBlockCount) {
			visit(address)
		}
		h, err := j.readBlock(address, sum, t)
		if err != nil {
			return dst, err
		}
		if read+uint64(h.BodySize()) > ref.Size {
			return dst, fmt.Errorf("%w: blob longer than its reference's %d bytes", ErrCorrupt, ref.Size)
		}
		read += uint64(h.BodySize())
		if keep {
			dst = append(dst, j.blockBuf[wire.HeaderSize:h.Size]...)
			invariants.Assert(uint64(len(dst)-start) == read, "journal: blob bytes kept differ from bytes read")
		}
		if h.OpMin == 0 {
			break
		}
		address, sum = h.OpMin, h.Parent
	}
	if read != ref.Size {
		return dst, fmt.Errorf("%w: blob is %d bytes, reference says %d", ErrCorrupt, read, ref.Size)
	}
	return dst, nil
}
