package sim

import (
	"encoding/binary"
	"github.com/chronon-db/chronon/journal"
	"github.com/chronon-db/chronon/wire"
)

// corruptCheckpoint flips a bit in the payload of a grid block that the
// durable checkpoint of a replica that is down uses (Options.CheckpointRot):
// one block of its state, client sessions, outbox or free set. At restart
// the replica rebuilds a damaged free set from the checkpoint's references,
// or, for a damaged blob, starts without its checkpoint, withholds its vote
// and copies the primary's (state sync). Like every storage fault it only
// hits the at most f replicas chosen for storage faults. It reports
// whether it flipped a bit (not without a checkpoint).
func (s *Sim) corruptCheckpoint(h *host) bool {
	sb, ok := durableSuperblock(h)
	if !ok {
		return false
	}
	var refs []int
	for i, ref := range sb.VSR.Refs {
		if !ref.IsZero() {
			refs = append(refs, i)
		}
	}
	if sb.VSR.CheckpointOp == 0 || len(refs) == 0 {
		return false
	}
	i := refs[s.rng.IntN(len(refs))]
	ref := sb.VSR.Refs[i]
	// An index block or a data block of the blob.
	blocks := s.blobBlocks(h, ref, journal.BlockType(i+1))
	if len(blocks) == 0 {
		return false
	}
	address := blocks[s.rng.IntN(len(blocks))]
	data := h.storage.Data()
	var hd wire.Header
	hd.Decode(data[h.layout.BlockOffset(address):])
	if hd.Size <= wire.HeaderSize || hd.Size > h.layout.Config.GridBlockSize {
		return false
	}
	// Within the block's body, which its checksum covers.
	off := h.layout.BlockOffset(address) + wire.HeaderSize + s.rng.Uint64N(uint64(hd.Size-wire.HeaderSize))
	h.storage.FlipBit(off, uint(s.rng.IntN(8)))
	s.stats.Faults[FaultCorruptCheckpoint]++
	s.trace.logf("replica %d: bit flipped in grid block %d of its checkpoint at op %d (ref %d)", h.index, address, sb.VSR.CheckpointOp, i)
	return true
}

// durableSuperblock decodes the superblock copies of h's storage and
// returns the newest one that at least two copies agree on (what Open
// would choose when the copies are whole).
func durableSuperblock(h *host) (journal.Superblock, bool) {
	data := h.storage.Data()
	var best journal.Superblock
	found := false
	for i := range journal.SuperblockCopies {
		off := h.layout.SuperblockOffset(i)
		var sb journal.Superblock
		if journal.DecodeSuperblock(data[off:off+journal.SectorSize], &sb) != nil {
			continue
		}
		agree := 0
		for k := range journal.SuperblockCopies {
			o := h.layout.SuperblockOffset(k)
			var other journal.Superblock
			if journal.DecodeSuperblock(data[o:o+journal.SectorSize], &other) == nil && other.Checksum == sb.Checksum {
				agree++
			}
		}
		if agree >= journal.SuperblockQuorum && (!found || sb.Sequence > best.Sequence) {
			best, found = sb, true
		}
	}
	return best, found
}

// blobBlocks returns the addresses of the blob ref's index blocks and of
// the data blocks they name, in h's storage (docs/data-file.md, "Grid"),
// as far as the index chain verifies by header checksum.
func (s *Sim) blobBlocks(h *host, ref journal.BlobRef, t journal.BlockType) []uint64 {
	data := h.storage.Data()
	var out []uint64
	address, sum := ref.Address, ref.Checksum
	for n := 0; address != 0 && n < int(h.layout.Config.GridBlockCount); n++ {
		off := h.layout.BlockOffset(address)
		var hd wire.Header
		hd.Decode(data[off : off+wire.HeaderSize])
		if hd.Checksum != sum || hd.Op != address || hd.Reason != uint8(t)|0x80 || hd.Size > h.layout.Config.GridBlockSize {
			break
		}
		out = append(out, address)
		body := data[off+wire.HeaderSize : off+uint64(hd.Size)]
		for e := 0; e+48 <= len(body); e += 48 {
			if a := binary.LittleEndian.Uint64(body[e:]); a != 0 && a <= uint64(h.layout.Config.GridBlockCount) {
				out = append(out, a)
			}
		}
		address, sum = hd.OpMin, hd.Parent
	}
	return out
}
