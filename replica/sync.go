package replica

import (
	"fmt"

	"github.com/chronon-db/chronon/internal/invariants"
	"github.com/chronon-db/chronon/wire"
)

// State sync: a replica that fell further behind than its peers' WALs
// cannot repair op by op; it copies the latest checkpoint of the primary
// instead (state machine snapshot and client table, verified by one
// checksum and by the checksum of the checkpoint op's prepare, which the
// primary vouches for), makes it its own durable checkpoint, and repairs
// the ops after it.

// checkpointCopy is this replica's latest checkpoint, as state sync serves
// it (see splitCheckpointBlob).
type checkpointCopy struct {
	op      uint64
	prepare wire.Uint128 // checksum of prepare op
	id      wire.Uint128 // checksum of blob
	blob    []byte
	// segments holds the state's segment ends of the last checkpoint
	// taken (statemachine.SegmentedSnapshot), room for SegmentsMax.
	segments []int
	// snapLen is the length of the state machine's snapshot that the last
	// checkpoint taken here left in blob (after its 16-byte prefix); 0
	// once a restore or a sync replaced blob.
	snapLen int
}

// syncState is a state sync in progress on the receiving replica.
type syncState struct {
	active   bool
	from     uint8
	op       uint64
	prepare  wire.Uint128
	id       wire.Uint128
	size     uint64
	received uint64
	buf      []byte
	lastSent uint64
}

// syncChunkMax is the chunk of checkpoint bytes one message carries.
func (r *Replica) syncChunkMax() uint64 {
	invariants.Assert(r.cfg.Limits.MessageSizeMax > wire.HeaderSize, "replica: sync chunk without room")
	return uint64(r.cfg.Limits.MessageSizeMax) - wire.HeaderSize
}

// offerCheckpoint tells replica to, which asked for an op this replica no
// longer has, about its latest checkpoint.
func (r *Replica) offerCheckpoint(to uint8) {
	if r.cp.op == 0 || r.status != StatusNormal || !r.IsPrimary() {
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
	invariants.Assert(n <= r.syncChunkMax(), "replica: checkpoint chunk larger than a message")
	h := r.header(wire.CommandSyncCheckpoint)
	h.Op, h.Parent, h.Context = r.cp.op, r.cp.prepare, r.cp.id
	h.Commit, h.OpMin = uint64(len(r.cp.blob)), offset
	h.Size = uint32(wire.HeaderSize + n)
	r.sendWithBody(to, &h, r.cp.blob[offset:offset+n])
}

func (r *Replica) onRequestSyncCheckpoint(h *wire.Header) {
	if h.Op < r.cp.op && h.Replica != r.cfg.Replica {
		// A checkpoint at or after h.Op is asked for (a peer whose own
		// checkpoint is damaged, or one whose sync outlived the offer):
		// offer the latest.
		r.offerCheckpoint(h.Replica)
		return
	}
	if h.Op != r.cp.op || h.OpMin >= uint64(len(r.cp.blob)) || h.Replica == r.cfg.Replica {
		r.Counters.DropUnexpected++
		return
	}
	n := min(r.syncChunkMax(), uint64(len(r.cp.blob))-h.OpMin)
	invariants.Assert(n > 0 && r.cp.op > 0, "replica: empty checkpoint chunk asked")
	r.sendCheckpointChunk(h.Replica, h.OpMin, n)
}

// onSyncCheckpoint takes an offer or a chunk of a checkpoint from the
// primary of this view.
func (r *Replica) onSyncCheckpoint(h *wire.Header, body []byte) {
	if r.status != StatusNormal || h.View != r.view || h.Replica != r.primaryIndex() || r.IsPrimary() {
		r.Counters.DropWrongView++
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
		*s = syncState{active: true, from: h.Replica, op: h.Op, prepare: h.Parent, id: h.Context,
			size: h.Commit, buf: make([]byte, h.Commit)}
		r.Counters.SyncsStarted++
	}
	if h.Commit != s.size {
		r.Counters.DropUnexpected++
		return
	}
	invariants.Assert(s.active && s.op == h.Op && uint64(len(s.buf)) == s.size, "replica: sync chunk taken for another checkpoint")
	// The same checkpoint offered by a later primary: ask it for the rest
	// (chunks are only taken from the primary of this view).
	s.from = h.Replica
	if len(body) > 0 && h.OpMin == s.received {
		if s.received+uint64(len(body)) > s.size {
			r.Counters.DropUnexpected++ // a chunk beyond the announced size
			return
		}
		copy(s.buf[s.received:], body)
		s.received += uint64(len(body))
	}
	invariants.Assert(s.received <= s.size, "replica: sync received more than the checkpoint")
	if s.received == s.size {
		r.finishSync()
		return
	}
	r.requestSyncChunk()
}

func (r *Replica) requestSyncChunk() {
	s := &r.sync
	invariants.Assert(s.active && s.received < s.size, "replica: sync chunk asked outside a sync in progress")
	invariants.Assert(!r.IsPrimary(), "replica: primary syncs a checkpoint")
	s.lastSent = r.tick
	h := r.header(wire.CommandRequestSyncCheckpoint)
	h.Op, h.OpMin = s.op, s.received
	r.sendHeaderOnly(s.from, &h)
}

// finishSync verifies the copied checkpoint, makes it durable as this
// replica's own, and restarts the replica's log from it.
func (r *Replica) finishSync() {
	s := &r.sync
	invariants.Assert(s.active && s.received == s.size, "replica: sync finished before the whole checkpoint arrived")
	invariants.Assert(s.op >= r.syncFloor, "replica: synced checkpoint below the lost one")
	s.active = false
	if s.op <= r.op {
		// The log caught up meanwhile (repair from other replicas): the
		// checkpoint would drop acknowledged prepares above it.
		s.buf = nil
		return
	}
	blobs, ok := splitCheckpointBlob(s.buf)
	if wire.Checksum(s.buf) != s.id || !ok {
		r.Counters.SyncsFailed++
		return
	}
	if err := r.journal.Checkpoint(s.op, s.prepare, blobs); err != nil {
		panic(fmt.Sprintf("replica: writing the synced checkpoint at op %d failed: %v", s.op, err))
	}
	r.resetLog()
	if err := r.restoreBlobs(blobs); err != nil {
		panic(fmt.Sprintf("replica: a checkpoint with a valid checksum does not restore: %v", err))
	}
	r.op, r.commitMin, r.logOp = s.op, s.op, s.op
	r.commitMax = max(r.commitMax, s.op)
	r.head, r.committed = s.prepare, s.prepare
	r.ring.first = s.op + 1
	r.cp = checkpointCopy{op: s.op, prepare: s.prepare, id: s.id, blob: s.buf, segments: r.cp.segments[:0]}
	s.buf = nil
	invariants.Assert(r.ring.count == 0 && r.future.count == 0 && r.ring.first == r.commitMin+1, "replica: log not restarted at the synced checkpoint")
	invariants.Assert(!r.needsCheckpoint() && r.cp.op == r.commitMin, "replica: synced checkpoint is not the replica's state")
	r.Counters.SyncsDone++
	r.requestMissingPrepares()
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

// tickSync re-requests a chunk that did not arrive.
func (r *Replica) tickSync() {
	invariants.Assert(r.status == StatusNormal && !r.IsPrimary(), "replica: sync ticked off a normal backup")
	invariants.Assert(!r.sync.active || (r.sync.received < r.sync.size && uint64(len(r.sync.buf)) == r.sync.size), "replica: sync in progress without room for the rest")
	if r.sync.active && r.tick-r.sync.lastSent >= r.cfg.PrepareTimeoutTicks*4 {
		r.requestSyncChunk()
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
