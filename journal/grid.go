package journal

import (
	"encoding/binary"
	"fmt"

	"github.com/chronon-db/chronon/internal/invariants"
	"github.com/chronon-db/chronon/wire"
)

// BlockType says what a grid block holds. Stored in the block header's
// Reason byte.
type BlockType uint8

// Block types: one per checkpoint blob (Ref* index + 1). A blob's index
// blocks carry its type with blockIndexFlag set.
const (
	BlockFreeSet  BlockType = RefFreeSet + 1
	BlockSessions BlockType = RefSessions + 1
	BlockState    BlockType = RefState + 1

	blockIndexFlag BlockType = 0x80
)

// A blob is stored as data blocks named by index blocks. The blob's
// reference (BlobRef) names its first index block; index blocks form a
// chain, each naming the next by (OpMin = address, Parent = checksum), and
// each holds entries of indexEntrySize bytes, one per data block in blob
// order: address u64, payload size u32, segment u32 (the segment of the
// blob the block belongs to, from 0), the data block's header checksum
// u128 and its payload's checksum u128. A data block's
// payload is a slice of the blob; blocks never span a segment boundary
// (CheckpointData.StateSegments), so a segment that did not change keeps
// its blocks' bytes.
//
// Every block starts with a wire.Header: Command block, Cluster, Op = the
// block's own address, Commit = the checkpoint op that wrote it, Reason =
// BlockType (| blockIndexFlag for index blocks), Size = 256 + payload
// length, ChecksumBody over the payload, Checksum over header bytes
// [16, 256). The checksum is what references store, so a stale or
// misdirected block never verifies. A data block does not name its
// neighbours: a checkpoint whose data block has the same payload as the
// previous checkpoint's block at the same position of the same blob
// references that block again instead of writing it (checkpoint blocks
// are shared; see Checkpoint).

// indexEntrySize is the size of one index entry.
const indexEntrySize = 48

// blockEntry is one data block of a blob, as its index records it.
type blockEntry struct {
	address  uint64
	size     uint32       // payload bytes
	segment  uint32       // the blob's segment it belongs to
	checksum wire.Uint128 // the block's header checksum
	body     wire.Uint128 // its payload's checksum
	// stable marks a full block inside the blob's stable prefix
	// (CheckpointData.StableSize), encoded as the top bit of the segment.
	stable bool
}

// entryStableFlag is the segment field's bit that marks a stable block.
const entryStableFlag = 1 << 31

func (e *blockEntry) encode(b []byte) {
	invariants.Assert(len(b) >= indexEntrySize && e.address != 0, "journal: index entry without room or address")
	invariants.Assert(e.size > 0 && e.segment <= SegmentsMax, "journal: index entry of an empty block or beyond the segments")
	le := binary.LittleEndian
	le.PutUint64(b, e.address)
	le.PutUint32(b[8:], e.size)
	seg := e.segment
	if e.stable {
		seg |= entryStableFlag
	}
	le.PutUint32(b[12:], seg)
	putU128(b[16:], e.checksum)
	putU128(b[32:], e.body)
}

// decode reads an entry and checks it against a grid of count blocks with
// payloads of at most pm bytes. It never panics.
func (e *blockEntry) decode(b []byte, count uint64, pm int) error {
	invariants.Assert(len(b) >= indexEntrySize, "journal: index entry decoded from a short buffer")
	le := binary.LittleEndian
	e.address, e.size, e.segment = le.Uint64(b), le.Uint32(b[8:]), le.Uint32(b[12:])
	e.checksum, e.body = getU128(b[16:]), getU128(b[32:])
	e.stable = e.segment&entryStableFlag != 0
	e.segment &^= entryStableFlag
	switch {
	case e.address == 0 || e.address > count:
		return fmt.Errorf("%w: index entry names grid address %d", ErrCorrupt, e.address)
	case e.size == 0 || int(e.size) > pm:
		return fmt.Errorf("%w: index entry of %d payload bytes", ErrCorrupt, e.size)
	case e.segment > SegmentsMax:
		return fmt.Errorf("%w: index entry of segment %d", ErrCorrupt, e.segment)
	case e.stable && int(e.size) != pm:
		return fmt.Errorf("%w: stable index entry of %d payload bytes, not a full block", ErrCorrupt, e.size)
	}
	// What an accepted entry guarantees its users.
	invariants.Assert(e.address >= 1 && e.address <= count && int(e.size) <= pm, "journal: accepted index entry out of the grid or the block")
	return nil
}

// blockPayloadMax returns the payload bytes one block carries.
func (j *Journal) blockPayloadMax() int {
	pm := int(j.layout.Config.GridBlockSize) - wire.HeaderSize
	invariants.Assert(pm > 0 && pm%8 == 0, "journal: grid block without room for a payload")
	invariants.Assert(pm+wire.HeaderSize <= len(j.blockBuf), "journal: block buffer smaller than a block")
	return pm
}

// entriesPerIndex returns the entries one index block holds.
func (j *Journal) entriesPerIndex() int {
	n := j.blockPayloadMax() / indexEntrySize
	invariants.Assert(n >= 1, "journal: index block without room for an entry")
	invariants.Assert(n*indexEntrySize <= len(j.indexBuf)-wire.HeaderSize, "journal: index entries beyond the index buffer")
	return n
}

// indexBlocksFor returns the index blocks naming n data blocks.
func (j *Journal) indexBlocksFor(n int) int {
	invariants.Assert(n >= 0, "journal: negative data block count")
	per := j.entriesPerIndex()
	k := (n + per - 1) / per
	invariants.Assert(k*per >= n && (k == 0 || (k-1)*per < n), "journal: index block count does not cover the entries exactly")
	return k
}

// blocksFor returns the data blocks a blob of n bytes in the given
// segments needs (ends as in CheckpointData.StateSegments; nil: one
// segment).
func (j *Journal) blocksFor(n int, ends []int) int {
	invariants.Assert(n >= 0, "journal: negative blob size")
	pm := j.blockPayloadMax()
	b, start := 0, 0
	for _, end := range segmentEnds(n, ends) {
		b += (end - start + pm - 1) / pm
		start = end
	}
	invariants.Assert(b*pm >= n && (n > 0) == (b > 0), "journal: block count does not cover the blob")
	return b
}

// segmentEnds returns the segment ends of a blob of n bytes: ends when it
// ends at n, else ends with n appended (the caller's ends are checked by
// checkSegments). The result may share ends' array.
func segmentEnds(n int, ends []int) []int {
	if n == 0 {
		return nil
	}
	if len(ends) > 0 && ends[len(ends)-1] == n {
		return ends
	}
	out := append(ends[:len(ends):len(ends)], n)
	invariants.Assert(out[len(out)-1] == n, "journal: segments do not end at the blob's end")
	invariants.Assert(len(out) <= SegmentsMax+1, "journal: more segments than a blob holds")
	return out
}

// checkSegments panics unless ends are segment ends within a blob of n
// bytes, not decreasing (a segment may be empty), at most SegmentsMax of
// them.
func checkSegments(n int, ends []int) {
	invariants.Assert(len(ends) <= SegmentsMax, "journal: more segments than SegmentsMax")
	prev := 0
	for _, e := range ends {
		if e < prev || e > n {
			invariants.Failf("journal: segment end %d after %d in a blob of %d bytes", e, prev, n)
		}
		prev = e
	}
}

// checkBlockType panics unless t names a checkpoint blob.
func checkBlockType(t BlockType) {
	invariants.Assert(t >= BlockFreeSet && t <= BlockState, "journal: unknown grid block type")
}

// gridAlloc hands out the blocks a checkpoint writes: a fixed list (the
// free set's, acquired before it is encoded) or, when the list is empty,
// the next block that neither the durable checkpoint nor the staged one
// holds.
type gridAlloc struct {
	fixed  []uint64
	cursor uint64
}

func (j *Journal) allocBlock(a *gridAlloc) (uint64, error) {
	if len(a.fixed) > 0 {
		addr := a.fixed[0]
		a.fixed = a.fixed[1:]
		invariants.Assert(j.staging.isAcquired(addr) && !j.acquired.isAcquired(addr), "journal: fixed block not staged, or the durable checkpoint's")
		return addr, nil
	}
	count := uint64(j.layout.Config.GridBlockCount)
	if a.cursor < count {
		if addr := j.freeBlock(a.cursor + 1); addr != 0 {
			a.cursor = addr
			j.staging.acquire(addr)
			invariants.Assert(j.staging.isAcquired(addr), "journal: allocated block not staged")
			return addr, nil
		}
		a.cursor = count
	}
	if j.releaseUnusedPrewrites() > 0 {
		// Blocks written ahead that this checkpoint did not take: the
		// source's stable bytes changed after all (a restore). Free them.
		a.cursor = 0
		return j.allocBlock(a)
	}
	return 0, fmt.Errorf("%w: no grid block free beside the current checkpoint (%d staged, %d durable, %d in the grid)",
		ErrGridFull, j.staging.acquired(), j.acquired.acquired(), count)
}

// freeBlock returns the first block at or after from that no set holds:
// not the durable checkpoint's, not staged for the one being written, not
// written ahead, not a repair's; 0 when none is.
func (j *Journal) freeBlock(from uint64) uint64 {
	count := uint64(j.layout.Config.GridBlockCount)
	invariants.Assert(from >= 1, "journal: free block searched from address 0")
	for a := from; a <= count; a++ {
		if !j.acquired.isAcquired(a) && !j.staging.isAcquired(a) && !j.preSet.isAcquired(a) && !j.repSet.isAcquired(a) {
			invariants.Assert(a >= from && a <= count, "journal: free block outside the range searched")
			return a
		}
	}
	return 0
}

// writeBlock seals payload as a block of type t at address and writes it:
// durable before it returns when durable is set, else the caller syncs.
func (j *Journal) writeBlock(t BlockType, address uint64, payload []byte, next *wire.Header, checkpointOp uint64, durable bool) (wire.Header, error) {
	// The block must be reserved for the checkpoint being written and not
	// hold one of the durable checkpoint's blocks.
	if (!j.staging.isAcquired(address) && !j.preSet.isAcquired(address) && !j.repSet.isAcquired(address)) || j.acquired.isAcquired(address) {
		invariants.Failf("journal: grid block %d written while not staged or of the durable checkpoint", address)
	}
	h, n := j.sealBlock(j.blockBuf, t, address, payload, next, checkpointOp)
	write := j.io.write
	if durable {
		write = j.io.writeDurable
	}
	if err := write(j.blockBuf[:n], j.layout.BlockOffset(h.Op)); err != nil {
		return h, err
	}
	j.gridWrittenBlocks++
	j.gridWritten += n
	return h, nil
}

// sealBlock builds the block of type t at address holding payload in buf
// (a grid block's size) and returns its header and the sector-rounded
// length to write.
func (j *Journal) sealBlock(buf []byte, t BlockType, address uint64, payload []byte, next *wire.Header, checkpointOp uint64) (wire.Header, uint64) {
	invariants.Assert(len(payload) > 0 && len(payload) <= j.blockPayloadMax(), "journal: grid block payload out of range")
	invariants.Assert(len(buf) == int(j.layout.Config.GridBlockSize), "journal: grid block built in a buffer of another size")
	h := wire.Header{
		Cluster:  j.sb.Cluster,
		Op:       address,
		Commit:   checkpointOp,
		Size:     uint32(wire.HeaderSize + len(payload)),
		Protocol: wire.ProtocolVersion,
		Command:  wire.CommandBlock,
		Reason:   uint8(t),
	}
	if next != nil {
		h.OpMin, h.Parent = next.Op, next.Checksum
	}
	clear(buf)
	copy(buf[wire.HeaderSize:], payload)
	wire.Seal(&h, buf[:h.Size])
	invariants.Assert(h.Size > wire.HeaderSize && h.Size <= j.layout.Config.GridBlockSize, "journal: grid block size out of range")
	if invariants.Enabled {
		// Paired with readBlock: what is written verifies as read.
		if err := verifyBlock(buf, h.Op, h.Checksum, t, j.sb.Cluster); err != nil {
			invariants.Failf("journal: grid block %d does not verify before its write: %v", h.Op, err)
		}
	}
	return h, sectorRound(uint64(h.Size))
}

// blobWrite describes one blob a checkpoint writes.
type blobWrite struct {
	t    BlockType
	data []byte
	ends []int        // segment ends (nil: one segment)
	prev []blockEntry // the durable checkpoint's blocks of this blob (nil: share none)
	// stableSeg and stableSize: the stable prefix (CheckpointData), -1
	// and 0 for none; omitted: its leading bytes data does not hold
	// (CheckpointData.StableOmitted), taken from the durable checkpoint.
	stableSeg, stableSize, omitted int
	// skipped: the leading bytes of the stable prefix data does not hold
	// (at least omitted; the rest written ahead)
	skipped int
}

// writeBlob writes w's data blocks (reusing those of w.prev whose payload
// is unchanged), appends their entries to j.next, then writes the index
// blocks, and returns the blob's reference. The caller syncs.
func (j *Journal) writeBlob(w blobWrite, a *gridAlloc, checkpointOp uint64) (BlobRef, []blockEntry, error) {
	checkBlockType(w.t)
	checkSegments(len(w.data), w.ends)
	invariants.Assert(checkpointOp >= j.sb.VSR.CheckpointOp, "journal: blob written for a checkpoint older than the durable one")
	if len(w.data) == 0 {
		return BlobRef{}, nil, nil
	}
	pm := j.blockPayloadMax()
	first := len(j.next)
	// Where each segment's blocks start in prev: a block is compared with
	// the block at the same place of the same segment.
	var prevStart [SegmentsMax + 2]int
	for k, seg := 0, uint32(0); seg <= SegmentsMax; seg++ {
		for k < len(w.prev) && w.prev[k].segment < seg {
			k++
		}
		prevStart[seg] = k
	}
	prevStart[SegmentsMax+1] = len(w.prev)
	start := 0
	for seg, end := range segmentEnds(len(w.data), w.ends) {
		for off := start; off < end; off += pm {
			payload := w.data[off:min(end, off+pm)]
			k := (off - start) / pm
			i := prevStart[seg] + k
			stable := w.t == BlockState && seg == w.stableSeg && len(payload) == pm && (k+1)*pm <= w.stableSize
			if e := j.stableBlock(&w, seg, k, payload, i, prevStart[seg+1]); e != nil {
				j.staging.acquire(e.address)
				j.next = append(j.next, *e)
				j.next[len(j.next)-1].stable = true
				j.scrubPos++
				continue
			}
			if stable && (k+1)*pm <= w.skipped {
				invariants.Failf("journal: block %d of the stable segment skipped, but neither the durable checkpoint holds it nor a prewrite", k)
			}
			body := wire.Checksum(payload)
			pos := j.scrubPos
			j.scrubPos++
			if i < prevStart[seg+1] && w.prev[i].segment == uint32(seg) && j.reusable(&w.prev[i], w.t, len(payload), body, pos) {
				j.staging.acquire(w.prev[i].address)
				j.next = append(j.next, w.prev[i])
				j.next[len(j.next)-1].stable = stable
				j.gridShared++
				continue
			}
			if e := j.prewritten(w.t, seg, k, len(payload), body); e != nil {
				j.preSet.release(e.address)
				j.staging.acquire(e.address)
				j.next = append(j.next, *e)
				j.next[len(j.next)-1].stable = stable
				j.gridPrewriteUsed++
				continue
			}
			addr, err := j.allocBlock(a)
			if err != nil {
				return BlobRef{}, nil, err
			}
			h, err := j.writeBlock(w.t, addr, payload, nil, checkpointOp, false)
			if err != nil {
				return BlobRef{}, nil, err
			}
			invariants.Assert(h.ChecksumBody == body, "journal: block body checksum differs from its payload's")
			j.next = append(j.next, blockEntry{address: addr, size: uint32(len(payload)), segment: uint32(seg), checksum: h.Checksum, body: body, stable: stable})
		}
		start = end
	}
	entries := j.next[first:]
	invariants.Assert(len(entries) == j.blocksFor(len(w.data), w.ends), "journal: blob written in another number of blocks")
	// Index blocks: allocated first, written last to first (each names the
	// next).
	per := j.entriesPerIndex()
	n := j.indexBlocksFor(len(entries))
	addrs := j.indexAddrs[:0]
	for range n {
		addr, err := j.allocBlock(a)
		if err != nil {
			return BlobRef{}, nil, err
		}
		addrs = append(addrs, addr)
	}
	var next wire.Header
	for k := n - 1; k >= 0; k-- {
		part := entries[k*per : min(len(entries), (k+1)*per)]
		b := j.indexBuf[:len(part)*indexEntrySize]
		for i := range part {
			part[i].encode(b[i*indexEntrySize:])
		}
		var link *wire.Header
		if k+1 < n {
			link = &next
		}
		h, err := j.writeBlock(w.t|blockIndexFlag, addrs[k], b, link, checkpointOp, false)
		if err != nil {
			return BlobRef{}, nil, err
		}
		next = h
	}
	invariants.Assert(next.Op == addrs[0] && (next.OpMin == 0) == (n == 1), "journal: index chain does not start at its first block")
	return BlobRef{Address: next.Op, Size: uint64(len(w.data)), Checksum: next.Checksum}, entries, nil
}

// stableBlock returns, for block k of segment seg (payload, at position
// i of prev, whose segment ends before position end), a block the
// checkpoint takes without checksumming the payload: a full block inside
// the stable prefix that the durable checkpoint held inside its own stable
// prefix (shared, when the scrubber does not reach it this time), or one
// Prewrite wrote. It moves a prewritten block from the prewrite set; the
// caller stages the block.
func (j *Journal) stableBlock(w *blobWrite, seg, k int, payload []byte, i, end int) *blockEntry {
	pm := j.blockPayloadMax()
	if w.t != BlockState || seg != w.stableSeg || len(payload) != pm || (k+1)*pm > w.stableSize {
		return nil
	}
	// A skipped block's bytes are not in payload: an omitted one is the
	// durable checkpoint's, taken unread (reads verify it: ReadStable),
	// the others were written ahead.
	omitted := (k+1)*pm <= w.skipped
	var e *blockEntry
	switch rep := j.repaired(k); {
	case rep != nil && seg == j.curStableSeg && (k+1)*pm <= j.curStableSize:
		// A repaired block replaces the durable checkpoint's damaged one.
		e = rep
		j.repSet.release(e.address)
	case i < end && w.prev[i].segment == uint32(seg) && seg == j.curStableSeg && (k+1)*pm <= j.curStableSize &&
		w.prev[i].size == uint32(pm) && (omitted || !j.scrubbing(j.scrubPos)):
		e = &w.prev[i]
		invariants.Assert(j.acquired.isAcquired(e.address), "journal: a stable shared block is not the durable checkpoint's")
		j.gridShared++
	case seg == j.preSegment && k >= j.preBase && k-j.preBase < len(j.pre) && j.preSet.isAcquired(j.pre[k-j.preBase].address):
		e = &j.pre[k-j.preBase]
		j.preSet.release(e.address)
		j.gridPrewriteUsed++
	default:
		return nil
	}
	if invariants.Enabled && !omitted {
		// The source's promise: the stable bytes did not change.
		invariants.Assert(wire.Checksum(payload) == e.body, "journal: a stable block's bytes changed (the state machine broke its StableSnapshot promise)")
	}
	return e
}

// scrubbing reports whether the scrubber verifies the shared block at pos
// this checkpoint.
func (j *Journal) scrubbing(pos uint64) bool {
	invariants.Assert(pos <= j.scrubPos, "journal: scrub position beyond the ones counted")
	invariants.Assert(ScrubBlocksPerCheckpoint > 0, "journal: a scrubber that reads nothing")
	return pos >= j.scrubCursor && pos < j.scrubCursor+ScrubBlocksPerCheckpoint
}

// reusable reports whether the checkpoint being written may reference the
// durable checkpoint's block e for a payload of size bytes with checksum
// body. A block at a position (pos: its rank among the checkpoint's data
// blocks) the scrubber reaches this time is read and verified first: a
// damaged one is written again from memory instead.
func (j *Journal) reusable(e *blockEntry, t BlockType, size int, body wire.Uint128, pos uint64) bool {
	invariants.Assert(size > 0 && size <= j.blockPayloadMax(), "journal: reuse asked for a payload out of range")
	if e.size != uint32(size) || e.body != body {
		return false
	}
	invariants.Assert(j.acquired.isAcquired(e.address) && !j.staging.isAcquired(e.address), "journal: shared block not the durable checkpoint's, or staged twice")
	if j.scrubbing(pos) {
		if _, err := j.readEntry(j.blockBuf, e, t); err != nil {
			j.gridScrubbedBad++
			return false
		}
	}
	return true
}

// readBlockInto reads block address into buf and verifies it against the
// expected checksum. It returns the decoded header.
func (j *Journal) readBlockInto(buf []byte, address uint64, checksum wire.Uint128, t BlockType) (wire.Header, error) {
	var h wire.Header
	if address == 0 || address > uint64(j.layout.Config.GridBlockCount) {
		return h, fmt.Errorf("%w: grid address %d out of range", ErrCorrupt, address)
	}
	if err := j.io.read(buf, j.layout.BlockOffset(address)); err != nil {
		return h, err
	}
	if err := verifyBlock(buf, address, checksum, t, j.sb.Cluster); err != nil {
		return h, err
	}
	h.Decode(buf)
	// What verifyBlock guarantees of a block it accepts.
	invariants.Assert(h.Op == address && h.Checksum == checksum, "journal: verified grid block has another address or checksum")
	invariants.Assert(BlockType(h.Reason) == t && int(h.Size) <= len(buf), "journal: verified grid block has another type or size")
	return h, nil
}

// readEntry reads the data block of type t that index entry e names into
// buf and verifies it against e (its header checksum, its payload's size
// and checksum); it returns the payload, a slice of buf.
func (j *Journal) readEntry(buf []byte, e *blockEntry, t BlockType) ([]byte, error) {
	invariants.Assert(len(buf) == int(j.layout.Config.GridBlockSize), "journal: block buffer of another size than a block")
	h, err := j.readBlockInto(buf, e.address, e.checksum, t)
	if err != nil {
		return nil, err
	}
	if h.BodySize() != int(e.size) || h.ChecksumBody != e.body {
		return nil, fmt.Errorf("%w: grid block %d differs from its index entry", ErrCorrupt, e.address)
	}
	invariants.Assert(wire.HeaderSize+int(e.size) <= len(buf), "journal: an entry's payload beyond its buffer")
	return buf[wire.HeaderSize : wire.HeaderSize+int(e.size)], nil
}

// verifyBlock checks a grid block read from address against its reference
// checksum. It never panics.
func verifyBlock(raw []byte, address uint64, checksum wire.Uint128, t BlockType, cluster wire.Uint128) error {
	invariants.Assert(address != 0, "journal: grid block verified at address 0")
	checkBlockType(t &^ blockIndexFlag)
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
	err := j.readIndex(ref, t, func(e *blockEntry) error {
		b, err := j.readEntry(j.blockBuf, e, t)
		if err != nil {
			return err
		}
		dst = append(dst, b...)
		return nil
	}, nil)
	invariants.Assert(err != nil || uint64(len(dst)-start) == ref.Size, "journal: blob read has another length than its reference")
	return dst, err
}

// walkBlob calls visit with the address of every block the blob's index
// names (its index blocks included), reading only the index blocks, as far
// as the index verifies (the address of an index block that fails is
// visited too).
func (j *Journal) walkBlob(ref BlobRef, t BlockType, visit func(address uint64)) error {
	invariants.Assert(visit != nil, "journal: walkBlob without a visitor")
	invariants.Assert(ref.Address <= uint64(j.layout.Config.GridBlockCount), "journal: walk of a reference the superblock checks would reject")
	return j.readIndex(ref, t, func(e *blockEntry) error { visit(e.address); return nil }, visit)
}

// readIndex walks the index chain of ref, calling entry for every data
// block's entry in blob order and index (when not nil) with every index
// block's address before it is read. It checks that the entries' sizes
// add up to the blob's.
func (j *Journal) readIndex(ref BlobRef, t BlockType, entry func(*blockEntry) error, index func(uint64)) error {
	if ref.IsZero() {
		return nil
	}
	count := uint64(j.layout.Config.GridBlockCount)
	invariants.Assert(ref.Address <= count, "journal: index walk of a reference outside the grid")
	pm := j.blockPayloadMax()
	total := uint64(0)
	address, sum := ref.Address, ref.Checksum
	var e blockEntry // one for the walk: a per-entry one escapes to the heap (entry keeps its address)
	for i := uint64(0); ; i++ {
		if i == count {
			return fmt.Errorf("%w: index chain longer than the grid", ErrCorrupt)
		}
		if index != nil && address != 0 && address <= count {
			index(address)
		}
		h, err := j.readBlockInto(j.indexBuf, address, sum, t|blockIndexFlag)
		if err != nil {
			return err
		}
		body := j.indexBuf[wire.HeaderSize:h.Size]
		if len(body) == 0 || len(body)%indexEntrySize != 0 {
			return fmt.Errorf("%w: index block %d of %d bytes", ErrCorrupt, address, len(body))
		}
		for k := 0; k < len(body); k += indexEntrySize {
			if err := e.decode(body[k:], count, pm); err != nil {
				return fmt.Errorf("index block %d: %w", address, err)
			}
			total += uint64(e.size)
			if total > ref.Size {
				return fmt.Errorf("%w: blob longer than its reference's %d bytes", ErrCorrupt, ref.Size)
			}
			if err := entry(&e); err != nil {
				return err
			}
		}
		if h.OpMin == 0 {
			break
		}
		address, sum = h.OpMin, h.Parent
	}
	if total != ref.Size {
		return fmt.Errorf("%w: blob is %d bytes, reference says %d", ErrCorrupt, total, ref.Size)
	}
	invariants.Assert(total == ref.Size, "journal: index walked to another size than its reference")
	return nil
}

// loadEntries reads the data block entries of ref into dst (appending).
func (j *Journal) loadEntries(ref BlobRef, t BlockType, dst []blockEntry) ([]blockEntry, error) {
	start := len(dst)
	err := j.readIndex(ref, t, func(e *blockEntry) error {
		if len(dst) == cap(dst) {
			return fmt.Errorf("%w: blob index names more blocks than the grid holds", ErrCorrupt)
		}
		dst = append(dst, *e)
		return nil
	}, nil)
	invariants.Assert(len(dst) >= start, "journal: entries lost while loading an index")
	invariants.Assert(len(dst) <= cap(dst), "journal: entries loaded beyond their buffer")
	return dst, err
}
