package replica

import (
	"cmp"
	"encoding/binary"
	"fmt"

	"github.com/chronon-db/chronon/internal/invariants"
	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// State sync: a replica that fell further behind than its peers' WALs
// cannot repair op by op; it copies the latest checkpoint of the primary
// instead, makes it its own durable checkpoint, and repairs the ops after
// it. The copy goes by difference: the checkpoint is cut into chunks of
// wire.SyncChunkSize bytes and its manifest lists the checksum of each;
// the checksum of the manifest is the checkpoint's id. The receiver takes
// the manifest from the primary (verified by the id the offer named, which
// the checksum of the checkpoint op's prepare accompanies), fills every
// chunk whose checksum equals the one at the same index of its own latest
// checkpoint from that copy, and asks the primary only for the others,
// each verified against its manifest entry when it arrives.

// checkpointCopy is a checkpoint as state sync serves it (see
// splitCheckpointBlob), with its manifest.
type checkpointCopy struct {
	op      uint64
	prepare wire.Uint128 // checksum of prepare op
	id      wire.Uint128 // checksum of manifest
	blob    []byte
	// segments holds the state's segment ends of the last checkpoint
	// taken (statemachine.SegmentedSnapshot), room for SegmentsMax.
	segments []int
	// snapLen is the length of the state machine's snapshot that the last
	// checkpoint taken here left in blob (after its 16-byte prefix); 0
	// once a restore or a sync replaced blob.
	snapLen int
	// stableLo and stableHi are the bytes of blob that held the state
	// machine's stable prefix (statemachine.StableSnapshot) when the last
	// checkpoint was taken here; 0, 0 otherwise.
	stableLo, stableHi uint64
	// manifest holds the checksum of each chunk of blob, in order
	// (wire.SyncManifestEntrySize bytes each, little endian); a zero entry
	// names a chunk whose bytes are unknown (the remains of a damaged
	// checkpoint, never served).
	manifest []byte
	// holeLo and holeHi are the bytes of blob a GridBacked machine
	// omitted (StableOmitted; holeLo is the stable prefix's start): blob
	// does not hold them, bytes reads them through the machine.
	holeLo, holeHi uint64
	// scratch holds one chunk assembled by bytes.
	scratch []byte
	// sealedAhead counts the entries sealKeeping took from a sealAhead.
	sealedAhead uint64
	// unsealed is set while chunks of the hole could not be read to seal
	// the manifest (their entries are zero, the id is zero): the
	// checkpoint is not served until reseal completes it, after the
	// damaged block is repaired from a peer.
	unsealed bool
}

// bytes returns blob's bytes [lo, hi), at most a chunk: a slice of blob,
// or, when the range meets the hole, assembled in scratch with the hole's
// part read through g. Errors wrap statemachine.ErrStableRead.
func (c *checkpointCopy) bytes(g statemachine.GridBacked, lo, hi uint64) ([]byte, error) {
	invariants.Assert(lo <= hi && hi <= uint64(len(c.blob)), "replica: checkpoint bytes beyond the blob")
	if hi <= c.holeLo || lo >= c.holeHi {
		return c.blob[lo:hi], nil
	}
	invariants.Assert(g != nil && hi-lo <= uint64(cap(c.scratch)), "replica: a hole without a grid-backed machine, or a range beyond a chunk")
	b := append(c.scratch[:0], c.blob[lo:max(lo, min(hi, c.holeLo))]...)
	from, to := max(lo, c.holeLo), min(hi, c.holeHi)
	b, err := g.ReadSnapshotRange(b, int(from-c.holeLo), int(to-c.holeLo))
	if err != nil {
		return nil, err
	}
	b = append(b, c.blob[to:max(to, hi)]...)
	c.scratch = b[:0]
	invariants.Assert(uint64(len(b)) == hi-lo, "replica: checkpoint bytes assembled to another length")
	return b, nil
}

// seal computes c's manifest from its blob, in c's manifest buffer, and
// its id: one pass over the blob.
func (c *checkpointCopy) seal(chunk uint64, g statemachine.GridBacked) error {
	return c.sealKeeping(chunk, 0, 0, g, nil)
}

// sealKeeping is seal when the blob's bytes [keepLo, keepHi) are those of
// the blob the current manifest was computed for: the entries of the
// chunks inside that range are kept instead of computed again (a state
// machine's stable prefix, which every checkpoint repeats at the same
// place). The entries ahead holds for chunks inside c's stable prefix
// are taken too (sealed ahead between checkpoints).
//
// A chunk of the hole that cannot be read leaves c unsealed; the first
// such error is returned.
func (c *checkpointCopy) sealKeeping(chunk, keepLo, keepHi uint64, g statemachine.GridBacked, ahead *sealAhead) error {
	invariants.Assert(chunk > 0 && len(c.blob) >= 16, "replica: checkpoint sealed without chunks or without its header")
	invariants.Assert(keepLo <= keepHi && keepHi <= uint64(len(c.blob)), "replica: kept manifest range outside the blob")
	old := uint64(len(c.manifest)) / wire.SyncManifestEntrySize
	n := (uint64(len(c.blob)) + chunk - 1) / chunk
	c.manifest = c.manifest[:n*wire.SyncManifestEntrySize]
	var first error
	for i := range n {
		lo := i * chunk
		hi := min(lo+chunk, uint64(len(c.blob)))
		e := c.manifest[i*wire.SyncManifestEntrySize:]
		if i < old && lo >= keepLo && hi <= keepHi {
			if invariants.Enabled {
				if b, err := c.bytes(g, lo, hi); err == nil {
					invariants.Assert(manifestEntry(c.manifest, i) == wire.Checksum(b), "replica: a kept manifest entry does not match its chunk (a stable prefix changed)")
				}
			}
			continue
		}
		if a, ok := ahead.entry(c.stableLo, i); ok && lo >= c.stableLo && hi <= c.stableHi {
			copy(e, a)
			c.sealedAhead++
			if invariants.Enabled {
				if b, err := c.bytes(g, lo, hi); err == nil {
					invariants.Assert(manifestEntry(c.manifest, i) == wire.Checksum(b), "replica: a manifest entry sealed ahead does not match its chunk (a stable prefix changed)")
				}
			}
			continue
		}
		b, err := c.bytes(g, lo, hi)
		if err != nil {
			// Unreadable here: a zero entry until reseal.
			clear(e[:wire.SyncManifestEntrySize])
			first = cmp.Or(first, err)
			continue
		}
		sum := wire.Checksum(b)
		binary.LittleEndian.PutUint64(e, sum.Lo)
		binary.LittleEndian.PutUint64(e[8:], sum.Hi)
	}
	invariants.Assert(uint64(len(c.manifest)) == wire.SyncManifestEntrySize*((uint64(len(c.blob))+chunk-1)/chunk), "replica: manifest does not name every chunk")
	c.unsealed = first != nil
	c.id = wire.Uint128{}
	if !c.unsealed {
		c.id = wire.Checksum(c.manifest)
	}
	return first
}

// reseal computes the zero entries of an unsealed manifest's hole chunks
// again; it returns the first read that still fails.
func (c *checkpointCopy) reseal(chunk uint64, g statemachine.GridBacked) error {
	invariants.Assert(c.unsealed && c.id.IsZero(), "replica: reseal of a sealed checkpoint")
	n := uint64(len(c.manifest)) / wire.SyncManifestEntrySize
	for i := range n {
		lo := i * chunk
		hi := min(lo+chunk, uint64(len(c.blob)))
		if hi <= c.holeLo || lo >= c.holeHi || !manifestEntry(c.manifest, i).IsZero() {
			continue
		}
		b, err := c.bytes(g, lo, hi)
		if err != nil {
			return err
		}
		sum := wire.Checksum(b)
		e := c.manifest[i*wire.SyncManifestEntrySize:]
		binary.LittleEndian.PutUint64(e, sum.Lo)
		binary.LittleEndian.PutUint64(e[8:], sum.Hi)
	}
	c.unsealed = false
	c.id = wire.Checksum(c.manifest)
	return nil
}

// holeSums computes the manifest entries of the chunks of a checkpoint
// copy that meet its hole from the hole's bytes as they stream past once,
// in order (the machine's restore reads them: GridBacked.RestoreOmitting),
// instead of reading them again through the machine to seal. The blob's
// bytes around the hole are in place already.
type holeSums struct {
	c     *checkpointCopy
	chunk uint64
	// at is the blob offset of the next hole byte; keptLo and keptHi the
	// chunks whose entries are computed (keptHi grows a chunk at a time).
	at             uint64
	keptLo, keptHi uint64
	buf            []byte // the chunk being assembled (c.scratch)
}

// startHoleSums sizes c's manifest for its blob and starts computing the
// entries of the chunks that meet its hole.
func (c *checkpointCopy) startHoleSums(chunk uint64) holeSums {
	invariants.Assert(chunk > 0 && c.holeLo < c.holeHi && c.holeHi <= uint64(len(c.blob)), "replica: hole sums without a chunk or a hole")
	n := (uint64(len(c.blob)) + chunk - 1) / chunk
	invariants.Assert(n*wire.SyncManifestEntrySize <= uint64(cap(c.manifest)), "replica: manifest beyond its buffer")
	c.manifest = c.manifest[:n*wire.SyncManifestEntrySize]
	lo := c.holeLo / chunk * chunk
	return holeSums{c: c, chunk: chunk, at: c.holeLo, keptLo: lo, keptHi: lo, buf: c.scratch[:0]}
}

// add takes the next bytes of the hole.
func (s *holeSums) add(b []byte) {
	c := s.c
	if uint64(len(b)) > c.holeHi-s.at {
		panic(fmt.Sprintf("replica: the state machine's restore read %d bytes beyond the %d it omitted", uint64(len(b))-(c.holeHi-s.at), c.holeHi-c.holeLo))
	}
	for len(b) > 0 {
		lo := s.at / s.chunk * s.chunk
		hi := min(lo+s.chunk, uint64(len(c.blob)))
		if len(s.buf) == 0 {
			// A chunk starts: the blob's bytes before the hole (the
			// first chunk only).
			s.buf = append(s.buf, c.blob[lo:s.at]...)
		}
		end := min(hi, c.holeHi)
		n := min(uint64(len(b)), end-s.at)
		s.buf = append(s.buf, b[:n]...)
		s.at += n
		b = b[n:]
		if s.at < end {
			continue
		}
		s.buf = append(s.buf, c.blob[end:hi]...) // the blob's bytes after the hole (the last chunk only)
		invariants.Assert(uint64(len(s.buf)) == hi-lo && s.keptHi == lo, "replica: a hole chunk assembled to another length or out of order")
		sum := wire.Checksum(s.buf)
		e := c.manifest[lo/s.chunk*wire.SyncManifestEntrySize:]
		binary.LittleEndian.PutUint64(e, sum.Lo)
		binary.LittleEndian.PutUint64(e[8:], sum.Hi)
		s.keptHi = hi
		s.buf = s.buf[:0]
	}
}

// manifestEntry returns entry i of a manifest.
func manifestEntry(manifest []byte, i uint64) wire.Uint128 {
	e := manifest[i*wire.SyncManifestEntrySize:]
	invariants.Assert(len(e) >= wire.SyncManifestEntrySize, "replica: manifest entry beyond the manifest")
	return wire.Uint128{Lo: binary.LittleEndian.Uint64(e), Hi: binary.LittleEndian.Uint64(e[8:])}
}

// syncState is a state sync in progress on the receiving replica.
type syncState struct {
	active  bool
	from    uint8
	op      uint64
	prepare wire.Uint128
	id      wire.Uint128
	size    uint64
	buf     []byte
	// manifest is the offered checkpoint's, its first listed entries
	// received (pages are taken in order); verified once all are there and
	// their checksum is id. Only then are chunks filled or taken.
	manifest []byte
	listed   uint64
	verified bool
	// have marks the chunks buf holds; next is the lowest one it lacks.
	have     []bool
	next     uint64
	local    uint64 // chunks filled from this replica's own checkpoint
	lastSent uint64
}

// syncChunkSize is the chunk of checkpoint bytes one message carries
// (Config.SyncChunkSize).
func (r *Replica) syncChunkSize() uint64 {
	c := r.cfg.SyncChunkSize
	if c == 0 {
		c = wire.SyncChunkSize(r.cfg.Limits.MessageSizeMax)
	}
	invariants.Assert(c > 0 && c%wire.SyncManifestEntrySize == 0, "replica: sync chunk holds no whole manifest entries")
	invariants.Assert(c <= wire.SyncChunkSize(r.cfg.Limits.MessageSizeMax), "replica: sync chunk larger than a message")
	return c
}

// syncChunkCount is the number of chunks of a checkpoint of size bytes.
func (r *Replica) syncChunkCount(size uint64) uint64 {
	c := r.syncChunkSize()
	n := size/c + min(size%c, 1)
	invariants.Assert(n*c >= size && n*c < size+c, "replica: chunks do not cover the checkpoint")
	return n
}

// offerCheckpoint tells replica to, which asked for an op this replica no
// longer has, about its latest checkpoint.
func (r *Replica) offerCheckpoint(to uint8) {
	if r.cp.op == 0 || r.cp.unsealed || r.status != StatusNormal || !r.IsPrimary() {
		return
	}
	// The checkpoint served is one this replica committed up to.
	invariants.Assert(r.cp.op <= r.commitMin && !r.cp.prepare.IsZero(), "replica: checkpoint offered above commit_min, or without its prepare")
	invariants.Assert(len(r.cp.blob) >= 16 && r.cp.op >= r.syncFloor, "replica: checkpoint offered without its blob, or below the lost one")
	r.sendCheckpointChunk(to, 0, 0)
	r.Counters.SyncOffers++
}

func (r *Replica) sendCheckpointChunk(to uint8, offset, n uint64) {
	invariants.Assert(r.cp.op > 0 && offset+n <= uint64(len(r.cp.blob)), "replica: checkpoint chunk beyond the checkpoint")
	invariants.Assert(n <= r.syncChunkSize(), "replica: checkpoint chunk larger than a message")
	h := r.header(wire.CommandSyncCheckpoint)
	h.Op, h.Parent, h.Context = r.cp.op, r.cp.prepare, r.cp.id
	h.Commit, h.OpMin = uint64(len(r.cp.blob)), offset
	h.Size = uint32(wire.HeaderSize + n)
	b, err := r.cp.bytes(r.grid, offset, offset+n)
	if err != nil {
		r.Counters.SyncChunkUnreadable++ // the peer asks again, once repaired
		r.requestStable(err)
		return
	}
	r.sendWithBody(to, &h, b)
}

func (r *Replica) onRequestSyncCheckpoint(h *wire.Header) {
	if h.Op < r.cp.op && h.Replica != r.cfg.Replica {
		// A checkpoint at or after h.Op is asked for (a peer whose own
		// checkpoint is damaged, or one whose sync outlived the offer):
		// offer the latest.
		r.offerCheckpoint(h.Replica)
		return
	}
	chunk := r.syncChunkSize()
	if h.Op != r.cp.op || r.cp.unsealed || h.OpMin >= uint64(len(r.cp.blob)) || h.OpMin%chunk != 0 || h.Replica == r.cfg.Replica {
		r.Counters.DropUnexpected++
		return
	}
	n := min(chunk, uint64(len(r.cp.blob))-h.OpMin)
	invariants.Assert(n > 0 && r.cp.op > 0, "replica: empty checkpoint chunk asked")
	r.sendCheckpointChunk(h.Replica, h.OpMin, n)
}

// onRequestSyncManifest serves a page of the manifest of this replica's
// latest checkpoint: the entries from index op_min, as many as a message
// holds.
func (r *Replica) onRequestSyncManifest(h *wire.Header) {
	if h.Op < r.cp.op && h.Replica != r.cfg.Replica {
		r.offerCheckpoint(h.Replica) // a newer checkpoint supersedes
		return
	}
	count := uint64(len(r.cp.manifest)) / wire.SyncManifestEntrySize
	if h.Op != r.cp.op || r.cp.unsealed || h.OpMin >= count || h.Replica == r.cfg.Replica {
		r.Counters.DropUnexpected++
		return
	}
	invariants.Assert(r.cp.op > 0 && count == r.syncChunkCount(uint64(len(r.cp.blob))), "replica: manifest served for another checkpoint")
	n := min(wire.SyncChunkSize(r.cfg.Limits.MessageSizeMax)/wire.SyncManifestEntrySize, count-h.OpMin)
	out := r.header(wire.CommandSyncManifest)
	out.Op, out.Parent, out.Context = r.cp.op, r.cp.prepare, r.cp.id
	out.Commit, out.OpMin = uint64(len(r.cp.blob)), h.OpMin
	out.Size = uint32(wire.HeaderSize + n*wire.SyncManifestEntrySize)
	invariants.Assert(n > 0 && out.Size <= r.cfg.Limits.MessageSizeMax, "replica: manifest page empty or beyond a message")
	r.sendWithBody(h.Replica, &out, r.cp.manifest[h.OpMin*wire.SyncManifestEntrySize:(h.OpMin+n)*wire.SyncManifestEntrySize])
}

// fromSyncPrimary reports whether a sync message comes from the primary of
// this replica's view, the only replica state sync trusts; it counts the
// others as dropped.
func (r *Replica) fromSyncPrimary(h *wire.Header) bool {
	invariants.Assert(h.Command == wire.CommandSyncCheckpoint || h.Command == wire.CommandSyncManifest, "replica: sync check of another command")
	if r.status != StatusNormal || h.View != r.view || h.Replica != r.primaryIndex() || r.IsPrimary() {
		r.Counters.DropWrongView++
		return false
	}
	invariants.Assert(h.Replica != r.cfg.Replica, "replica: sync message from itself")
	return true
}

// onSyncCheckpoint takes an offer or a chunk of a checkpoint from the
// primary of this view.
func (r *Replica) onSyncCheckpoint(h *wire.Header, body []byte) {
	if !r.fromSyncPrimary(h) {
		return
	}
	s := &r.sync
	if !s.active || s.op != h.Op || s.id != h.Context {
		if h.Op <= r.op || (s.active && h.Op < s.op) || h.Op < r.syncFloor {
			// Not ahead of this replica's log: syncing would drop prepares
			// it may have acknowledged (an offer answering an old request).
			return
		}
		if h.Commit < 16 || h.Commit > r.checkpointSizeMax() {
			r.Counters.SyncsFailed++ // a size no checkpoint of ours can have
			return
		}
		count := r.syncChunkCount(h.Commit)
		*s = syncState{active: true, from: h.Replica, op: h.Op, prepare: h.Parent, id: h.Context,
			size: h.Commit, buf: make([]byte, h.Commit),
			manifest: make([]byte, count*wire.SyncManifestEntrySize), have: make([]bool, count)}
		r.Counters.SyncsStarted++
	}
	if h.Commit != s.size || h.Parent != s.prepare {
		r.Counters.DropUnexpected++
		return
	}
	invariants.Assert(s.active && s.op == h.Op && uint64(len(s.buf)) == s.size, "replica: sync chunk taken for another checkpoint")
	// The same checkpoint offered by a later primary: ask it for the rest
	// (chunks are only taken from the primary of this view).
	s.from = h.Replica
	if len(body) > 0 {
		r.takeSyncChunk(h.OpMin, body)
		return
	}
	r.syncNext()
}

// onSyncManifest takes a page of the manifest of the checkpoint being
// synced, in order.
func (r *Replica) onSyncManifest(h *wire.Header, body []byte) {
	if !r.fromSyncPrimary(h) {
		return
	}
	s := &r.sync
	if !s.active || s.op != h.Op || s.id != h.Context || s.size != h.Commit || s.prepare != h.Parent {
		r.Counters.DropUnexpected++ // not the checkpoint being synced
		return
	}
	count := uint64(len(s.have))
	n := uint64(len(body)) / wire.SyncManifestEntrySize
	if s.verified || h.OpMin != s.listed || n > count-s.listed {
		r.Counters.DropUnexpected++ // a page already taken, or not the next
		return
	}
	invariants.Assert(uint64(len(body)) == n*wire.SyncManifestEntrySize && n > 0, "replica: manifest page not a whole number of entries")
	copy(s.manifest[s.listed*wire.SyncManifestEntrySize:], body)
	s.listed += n
	s.from = h.Replica
	if s.listed == count {
		if wire.Checksum(s.manifest) != s.id {
			// The offer's id does not authenticate these entries.
			r.Counters.SyncsFailed++
			r.abandonSync()
			return
		}
		s.verified = true
		r.fillSyncLocal()
	}
	invariants.Assert(s.listed <= count, "replica: manifest longer than the checkpoint's chunks")
	r.syncNext()
}

// abandonSync drops the sync in progress; a later offer starts another.
func (r *Replica) abandonSync() {
	invariants.Assert(r.sync.active, "replica: abandoning no sync")
	r.sync = syncState{lastSent: r.sync.lastSent}
	invariants.Assert(!r.sync.active && r.sync.buf == nil, "replica: abandoned sync still holds its buffer")
}

// syncBasis is the checkpoint a sync fills matching chunks from: this
// replica's latest one, or the remains of the one it could not read at
// restart; nil when it has neither or a sync from it failed.
func (r *Replica) syncBasis() *checkpointCopy {
	invariants.Assert(r.cp.op == 0 || len(r.cp.blob) >= 16, "replica: checkpoint without its blob")
	switch {
	case r.syncNoBasis:
		return nil
	case r.cp.op > 0:
		return &r.cp
	case len(r.damaged.manifest) > 0:
		return &r.damaged
	}
	return nil
}

// fillSyncLocal copies, once the manifest is verified, every chunk whose
// checksum equals the one at the same index of the basis's manifest (a
// chunk of the same extent).
func (r *Replica) fillSyncLocal() {
	s := &r.sync
	invariants.Assert(s.active && s.verified && s.next == 0, "replica: chunks filled before the manifest is verified")
	src := r.syncBasis()
	if src == nil {
		return
	}
	chunk := r.syncChunkSize()
	srcCount := uint64(len(src.manifest)) / wire.SyncManifestEntrySize
	invariants.Assert(srcCount == r.syncChunkCount(uint64(len(src.blob))), "replica: basis manifest does not match its blob")
	for i := uint64(0); i < uint64(len(s.have)) && i < srcCount; i++ {
		lo := i * chunk
		hi := min(lo+chunk, s.size)
		want := manifestEntry(s.manifest, i)
		if min(lo+chunk, uint64(len(src.blob))) != hi || want.IsZero() || manifestEntry(src.manifest, i) != want {
			continue
		}
		b, err := src.bytes(r.grid, lo, hi)
		if err != nil {
			continue // fetched from the primary instead
		}
		copy(s.buf[lo:hi], b)
		s.have[i] = true
		s.local++
		r.Counters.SyncChunksLocal++
		r.Counters.SyncBytesLocal += hi - lo
	}
}

// takeSyncChunk takes a chunk the primary sent, once it matches its
// manifest entry; a chunk that does not is refused, counted and asked
// again.
func (r *Replica) takeSyncChunk(offset uint64, body []byte) {
	s := &r.sync
	chunk := r.syncChunkSize()
	i := offset / chunk
	if !s.verified || offset%chunk != 0 || i >= uint64(len(s.have)) || s.have[i] {
		r.Counters.DropUnexpected++ // before the manifest, or a copy already taken
		return
	}
	hi := min(offset+chunk, s.size)
	if uint64(len(body)) != hi-offset {
		r.Counters.DropUnexpected++
		return
	}
	if wire.Checksum(body) != manifestEntry(s.manifest, i) {
		r.Counters.SyncChunksRefused++
		r.requestSyncNext()
		return
	}
	copy(s.buf[offset:hi], body)
	s.have[i] = true
	r.Counters.SyncChunksFetched++
	r.Counters.SyncBytesFetched += hi - offset
	invariants.Assert(s.have[i] && s.verified, "replica: chunk taken without its manifest")
	r.syncNext()
}

// syncNext finishes the sync when every chunk is there, or asks for the
// next thing it lacks.
func (r *Replica) syncNext() {
	s := &r.sync
	invariants.Assert(s.active && uint64(len(s.buf)) == s.size, "replica: sync step without a sync")
	if s.verified {
		for s.next < uint64(len(s.have)) && s.have[s.next] {
			s.next++
		}
		if s.next == uint64(len(s.have)) {
			r.finishSync()
			return
		}
	}
	r.requestSyncNext()
}

// requestSyncNext asks the primary for the next manifest page, or once the
// manifest is verified, for the lowest chunk the sync lacks.
func (r *Replica) requestSyncNext() {
	s := &r.sync
	invariants.Assert(s.active && (!s.verified || s.next < uint64(len(s.have))), "replica: sync asks for more than the checkpoint")
	invariants.Assert(!r.IsPrimary(), "replica: primary syncs a checkpoint")
	s.lastSent = r.tick
	var h wire.Header
	if s.verified {
		h = r.header(wire.CommandRequestSyncCheckpoint)
		h.OpMin = s.next * r.syncChunkSize()
	} else {
		h = r.header(wire.CommandRequestSyncManifest)
		h.OpMin = s.listed
	}
	h.Op = s.op
	// Sync trusts only the primary of this view (fromSyncPrimary): after
	// a view change the one that offered the checkpoint may not answer
	// any more, while the new one answers with the rest or offers its
	// latest checkpoint.
	s.from = r.primaryIndex()
	invariants.Assert(s.from != r.cfg.Replica, "replica: sync asks itself")
	r.sendHeaderOnly(s.from, &h)
}

// finishSync verifies the copied checkpoint, makes it durable as this
// replica's own, and restarts the replica's log from it.
func (r *Replica) finishSync() {
	s := &r.sync
	invariants.Assert(s.active && s.verified && s.next == uint64(len(s.have)), "replica: sync finished before the whole checkpoint arrived")
	invariants.Assert(s.op >= r.syncFloor, "replica: synced checkpoint below the lost one")
	if s.op <= r.op {
		// The log caught up meanwhile (repair from other replicas): the
		// checkpoint would drop acknowledged prepares above it.
		r.abandonSync()
		return
	}
	// The whole copy against the manifest the id authenticated: chunks
	// filled locally included.
	chunk := r.syncChunkSize()
	whole := true
	for i := uint64(0); i < uint64(len(s.have)) && whole; i++ {
		lo := i * chunk
		whole = wire.Checksum(s.buf[lo:min(lo+chunk, s.size)]) == manifestEntry(s.manifest, i)
	}
	blobs, ok := splitCheckpointBlob(s.buf)
	if !whole || !ok {
		r.Counters.SyncsFailed++
		// A basis whose chunks matched their entries but not their bytes
		// is not used again.
		r.syncNoBasis = r.syncNoBasis || s.local > 0
		r.abandonSync()
		return
	}
	s.active = false
	r.resetLog()
	if err := r.restoreBlobs(blobs, nil); err != nil {
		panic(fmt.Sprintf("replica: a checkpoint with a valid checksum does not restore: %v", err))
	}
	cp := checkpointCopy{op: s.op, prepare: s.prepare, id: s.id, blob: s.buf,
		manifest: append(r.cp.manifest[:0], s.manifest...), segments: r.cp.segments[:0], scratch: r.cp.scratch}
	blobs = r.snapshotSynced(&cp, blobs)
	if err := r.journal.Checkpoint(s.op, s.prepare, blobs); err != nil {
		panic(fmt.Sprintf("replica: writing the synced checkpoint at op %d failed: %v", s.op, err))
	}
	r.op, r.commitMin, r.logOp = s.op, s.op, s.op
	r.commitMax = max(r.commitMax, s.op)
	r.head, r.committed = s.prepare, s.prepare
	r.ring.first = s.op + 1
	r.cp = cp
	r.dropHeld()
	r.damaged = checkpointCopy{}
	r.syncNoBasis = false
	r.sync = syncState{lastSent: s.lastSent}
	invariants.Assert(r.ring.count == 0 && r.future.count == 0 && r.ring.first == r.commitMin+1, "replica: log not restarted at the synced checkpoint")
	invariants.Assert(!r.needsCheckpoint() && r.cp.op == r.commitMin, "replica: synced checkpoint is not the replica's state")
	r.Counters.SyncsDone++
	r.requestMissingPrepares()
}

// snapshotSynced takes the restored state's snapshot again, into the
// synced checkpoint's own buffer, with its segments and stable prefix
// (statemachine.StableSnapshot): the bytes are the synced ones
// (checkpoints are canonical; every chunk is checked against the
// manifest), but the journal can now share and mark the stable prefix's
// blocks, so a GridBacked machine drops it from memory once that
// checkpoint is durable, and the next checkpoint leaves it in place. It
// returns the blobs to write.
func (r *Replica) snapshotSynced(cp *checkpointCopy, blobs CheckpointBlobs) CheckpointBlobs {
	st, ok := r.sm.(statemachine.StableSnapshot)
	if !ok {
		return blobs
	}
	sessions := len(blobs.Sessions)
	stateLen := len(blobs.State)
	b := cp.blob[:16]
	var segments []int
	b, segments = st.SnapshotOver(b, cp.segments[:0], 0, 0)
	if len(b) != 16+stateLen {
		panic(fmt.Sprintf("replica: the synced state snapshots to %d bytes, the checkpoint held %d", len(b)-16, stateLen))
	}
	checkSegments(segments, stateLen)
	b = b[:16+stateLen+sessions] // the sessions are still in place
	chunk := r.syncChunkSize()
	for i := uint64(0); i*chunk < uint64(len(b)); i++ {
		lo, hi := i*chunk, min((i+1)*chunk, uint64(len(b)))
		if wire.Checksum(b[lo:hi]) != manifestEntry(cp.manifest, i) {
			panic(fmt.Sprintf("replica: the synced state does not snapshot back to the synced checkpoint (chunk %d)", i))
		}
	}
	cp.blob, cp.segments, cp.snapLen = b, segments, stateLen
	out, ok := splitCheckpointBlob(b)
	invariants.Assert(ok && len(out.State) == stateLen && len(out.Sessions) == sessions, "replica: synced blob does not split as before")
	out.StateSegments = segments
	out.StableSegment, out.StableSize = st.SnapshotStable()
	if seg, size := out.StableSegment, out.StableSize; seg >= 0 && seg <= len(segments) && size > 0 {
		lo := uint64(16)
		if seg > 0 {
			lo += uint64(segments[seg-1])
		}
		cp.stableLo, cp.stableHi = lo, lo+uint64(size)
	}
	return out
}

// dropHeld lets a GridBacked machine drop, right after a checkpoint it
// restored from a sync, the stable prefix the journal now holds, and
// gives the checkpoint copy's pages of it back: they are read through
// the machine from then on.
func (r *Replica) dropHeld() {
	if r.grid == nil {
		return
	}
	r.grid.PrefetchReset()
	om := uint64(r.grid.StableOmitted())
	if om == 0 || r.cp.stableHi <= r.cp.stableLo {
		return
	}
	invariants.Assert(r.cp.stableLo+om <= r.cp.stableHi && r.cp.holeHi == 0, "replica: dropped bytes beyond the stable prefix, or a hole already")
	r.cp.holeLo, r.cp.holeHi = r.cp.stableLo, r.cp.stableLo+om
	if r.cfg.ReleaseMemory != nil {
		r.cfg.ReleaseMemory(r.cp.blob[r.cp.holeLo:r.cp.holeHi])
	}
}

// resetLog forgets the uncommitted log and the client table before a
// checkpoint replaces the state.
func (r *Replica) resetLog() {
	for r.ring.count > 0 {
		r.ring.truncateLast()
	}
	r.future.clear()
	r.log.forget(0)
	t := &r.clients
	for i := 0; i < t.used; i++ {
		t.release(&t.entries[i])
		t.entries[i] = clientEntry{}
	}
	invariants.Assert(t.large == 0, "replica: large replies left after the table's reset")
	t.used = 0
	clear(t.index)
	t.registering = t.registering[:0]
	invariants.Assert(r.ring.count == 0 && r.future.count == 0, "replica: log left after its reset")
	invariants.Assert(len(t.index) == 0, "replica: client index left after its reset")
}

// tickSync re-requests a manifest page or a chunk that did not arrive.
func (r *Replica) tickSync() {
	invariants.Assert(r.status == StatusNormal && !r.IsPrimary(), "replica: sync ticked off a normal backup")
	invariants.Assert(!r.sync.active || (r.sync.next < uint64(len(r.sync.have)) && uint64(len(r.sync.buf)) == r.sync.size), "replica: sync in progress without room for the rest")
	if r.sync.active && r.tick-r.sync.lastSent >= r.cfg.PrepareTimeoutTicks*4 {
		r.requestSyncNext()
	}
}

// checkpointSizeMaxDefault bounds a synced checkpoint when the config does
// not say (in-memory journals).
const checkpointSizeMaxDefault = 1 << 30

// checkpointSizeMax is the largest checkpoint this replica accepts from a
// peer: the buffer is allocated from the size the offer announces.
func (r *Replica) checkpointSizeMax() uint64 {
	invariants.Assert(checkpointSizeMaxDefault >= 16, "replica: default checkpoint size below its header")
	if r.cfg.CheckpointSizeMax > 0 {
		return r.cfg.CheckpointSizeMax
	}
	return checkpointSizeMaxDefault
}
