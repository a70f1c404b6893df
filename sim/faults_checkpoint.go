package sim

import (
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
	// A block of the chain: the first one, or one further along.
	pm := uint64(h.layout.Config.GridBlockSize) - wire.HeaderSize
	blocks := (ref.Size + pm - 1) / pm
	k := s.rng.Uint64N(blocks)
	address := s.chainAddress(h, ref, journal.BlockType(i+1), k)
	if address == 0 {
		return false
	}
	// Within the block's body, which its checksum covers.
	off := h.layout.BlockOffset(address) + wire.HeaderSize + s.rng.Uint64N(min(pm, ref.Size-k*pm))
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

// chainAddress returns the address of block k (0-based) of the blob ref in
// h's storage, or 0 when the chain does not read that far.
func (s *Sim) chainAddress(h *host, ref journal.BlobRef, t journal.BlockType, k uint64) uint64 {
	data := h.storage.Data()
	address, sum := ref.Address, ref.Checksum
	for ; k > 0; k-- {
		off := h.layout.BlockOffset(address)
		var hd wire.Header
		hd.Decode(data[off : off+wire.HeaderSize])
		if hd.Checksum != sum || hd.Op != address || hd.OpMin == 0 || hd.Reason != uint8(t) {
			return 0
		}
		address, sum = hd.OpMin, hd.Parent
	}
	return address
}
