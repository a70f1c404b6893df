package replica

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/chronon-db/chronon/internal/invariants"
	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// ErrCheckpoint means checkpoint bytes read back from disk do not decode.
var ErrCheckpoint = errors.New("replica: invalid checkpoint")

// sessionsMagic starts an encoded client table ("CHRNSESS").
const sessionsMagic uint64 = 0x5353455334524843

// SessionsSizeMax bounds the encoded client table of a replica with limits
// l: ClientsMax sessions, each holding a reply of up to ReplySlotSize
// bytes, of which RepliesLargeMax may hold one of up to MessageSizeMax
// (encodeSessions).
func SessionsSizeMax(l wire.Limits) uint64 {
	invariants.Assert(l.ReplySlotSize <= l.MessageSizeMax, "replica: reply slots larger than a message")
	n := 20 + uint64(l.ClientsMax)*(40+uint64(l.ReplySlotSize)) +
		uint64(l.RepliesLarge())*uint64(l.MessageSizeMax-l.ReplySlotSize)
	invariants.Assert(n >= 20, "replica: sessions size bound overflows")
	return n
}

// checkpoint snapshots the state machine and the client table after
// commitMin and hands them to the journal. Every replica checkpoints at the
// same ops, so their checkpoints are byte-identical.
func (r *Replica) checkpoint() {
	if r.needsCheckpoint() {
		return // below the durable checkpoint this replica could not read
	}
	// At an interval, after the last checkpoint, with the op committed.
	invariants.Assert(r.cfg.CheckpointInterval > 0 && r.commitMin%r.cfg.CheckpointInterval == 0, "replica: checkpoint off its interval")
	invariants.Assert(r.cp.op < r.commitMin && r.commitMin <= r.commitMax, "replica: checkpoint not after the last one, or above commit_max")
	// One buffer holds the checkpoint as state sync serves it: state length
	// u64, sessions length u64, state, sessions.
	b := append(r.cp.blob[:0], make([]byte, 16)...)
	segments := r.cp.segments[:0]
	prevSnap, prevLo, prevHi := r.cp.snapLen, r.cp.stableLo, r.cp.stableHi
	omitted, skipped := 0, 0
	if r.grid != nil {
		omitted = r.grid.StableOmitted()
		skipped = omitted
	}
	switch s := r.sm.(type) {
	case statemachine.StableSnapshot:
		// The stable bytes the journal already wrote in full blocks are
		// neither copied nor handed over: serving and sealing read them
		// through the machine (so only with a GridBacked one).
		if c, ok := r.journal.(StableCoverage); ok && r.grid != nil {
			skipped = max(omitted, c.StableCovered(s.SnapshotStable()))
		}
		// The buffer still holds the last checkpoint taken here (unless a
		// restore or a sync replaced it: snapLen 0), but not the bytes that
		// one skipped.
		prev := r.cp.snapLen
		if uint64(skipped) < r.cp.holeHi-r.cp.holeLo {
			prev = 0
		}
		b, segments = s.SnapshotOver(b, segments, prev, skipped)
		checkSegments(segments, len(b)-16)
	case statemachine.SegmentedSnapshot:
		b, segments = s.SnapshotSegments(b, segments)
		checkSegments(segments, len(b)-16)
	default:
		b = r.sm.Snapshot(b)
	}
	r.cp.segments = segments
	r.cp.snapLen = len(b) - 16
	stateEnd := len(b)
	if n := stateEnd - 16; n > r.sm.SnapshotSizeMax() {
		// The grid was checked against SnapshotSizeMax at start: a larger
		// snapshot could find it full.
		panic(fmt.Sprintf("replica: state machine snapshot of %d bytes exceeds its SnapshotSizeMax %d", n, r.sm.SnapshotSizeMax()))
	}
	b = r.encodeSessions(b)
	sessionsEnd := len(b)
	binary.LittleEndian.PutUint64(b[0:], uint64(stateEnd-16))
	binary.LittleEndian.PutUint64(b[8:], uint64(sessionsEnd-stateEnd))
	r.cp.blob = b
	r.cp.op, r.cp.prepare = r.commitMin, r.committed
	// The manifest: the chunks inside the stable prefix the last
	// checkpoint taken here held, at the same place, keep their checksums.
	r.cp.stableLo, r.cp.stableHi = 0, 0
	prevHoleLo, prevHoleHi := r.cp.holeLo, r.cp.holeHi
	r.cp.holeLo, r.cp.holeHi = 0, 0
	var keepLo, keepHi uint64
	if s, ok := r.sm.(statemachine.StableSnapshot); ok {
		seg, size := s.SnapshotStable()
		if seg >= 0 && seg <= len(segments) && size > 0 {
			lo := uint64(16)
			if seg > 0 {
				lo += uint64(segments[seg-1])
			}
			r.cp.stableLo, r.cp.stableHi = lo, lo+uint64(size)
			invariants.Assert(r.cp.stableHi <= uint64(stateEnd), "replica: stable prefix beyond the state")
			// An unsealed manifest's zero entries are not checksums to keep.
			if prevSnap > 0 && prevLo == lo && prevHi <= r.cp.stableHi && !r.cp.unsealed {
				keepLo, keepHi = prevLo, prevHi
			}
			// The omitted and skipped bytes: the buffer does not hold them
			// (SnapshotOver left them unwritten); serving and sealing read
			// them through the machine, and their pages are given back.
			r.cp.holeLo, r.cp.holeHi = lo, lo+uint64(skipped)
			invariants.Assert(omitted <= skipped && uint64(skipped) <= uint64(size), "replica: more stable bytes skipped than the stable prefix")
			if r.cfg.ReleaseMemory != nil && skipped > 0 {
				from := lo
				if prevHoleLo == lo && prevHoleHi > lo+64<<10 {
					from = prevHoleHi - 64<<10 // the partial page at the last end
				}
				if from < r.cp.holeHi {
					r.cfg.ReleaseMemory(b[from:r.cp.holeHi])
				}
			}
		}
	}
	invariants.Assert(skipped == 0 || r.cp.holeHi > r.cp.holeLo, "replica: stable bytes skipped outside a stable segment")
	took := r.cp.sealedAhead
	if err := r.cp.sealKeeping(r.syncChunkSize(), keepLo, keepHi, r.grid, &r.ahead); err != nil {
		r.requestStable(err) // resealed once repaired (Tick)
	}
	r.Counters.SealedAhead += r.cp.sealedAhead - took
	r.damaged = checkpointCopy{} // a sync's basis is this checkpoint now
	blobs, ok := splitCheckpointBlob(b)
	blobs.StateSegments = segments
	if s, ok := r.sm.(statemachine.StableSnapshot); ok {
		blobs.StableSegment, blobs.StableSize = s.SnapshotStable()
		blobs.StableOmitted, blobs.StableSkipped = omitted, skipped
	}
	// State sync will split it the same way (finishSync).
	invariants.Assert(ok && len(blobs.State) == stateEnd-16 && len(blobs.Sessions) == sessionsEnd-stateEnd, "replica: checkpoint blob does not split as written")
	if err := r.journal.Checkpoint(r.commitMin, r.committed, blobs); err != nil {
		panic(fmt.Sprintf("replica: checkpoint at op %d failed: %v", r.commitMin, err))
	}
	invariants.Assert(r.cp.op == r.commitMin && r.cp.prepare == r.committed && (!r.cp.id.IsZero() || r.cp.unsealed), "replica: checkpoint served is not the one taken")
}

// checkSegments panics unless a state machine's segment ends are valid
// for a snapshot of n bytes (statemachine.SegmentedSnapshot): not
// decreasing (a segment may be empty), within the snapshot.
func checkSegments(ends []int, n int) {
	if len(ends) > statemachine.SegmentsMax {
		panic(fmt.Sprintf("replica: state machine cut its snapshot into %d segments, at most %d", len(ends), statemachine.SegmentsMax))
	}
	prev := 0
	for _, e := range ends {
		if e < prev || e > n {
			panic(fmt.Sprintf("replica: state machine segment end %d after %d in a snapshot of %d bytes", e, prev, n))
		}
		prev = e
	}
	invariants.Assert(len(ends) == 0 || ends[len(ends)-1] <= n, "replica: segments end beyond the snapshot")
}

// splitCheckpointBlob splits a checkpoint as state sync carries it; ok is
// false for bytes that do not have that shape.
func splitCheckpointBlob(b []byte) (CheckpointBlobs, bool) {
	if len(b) < 16 {
		return CheckpointBlobs{}, false
	}
	stateLen, sessionsLen := binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])
	rest := uint64(len(b) - 16)
	if stateLen > rest || sessionsLen != rest-stateLen {
		return CheckpointBlobs{}, false
	}
	state := b[16 : 16+stateLen]
	sessions := b[16+stateLen:]
	invariants.Assert(16+len(state)+len(sessions) == len(b), "replica: checkpoint blob split loses bytes")
	return CheckpointBlobs{State: state, Sessions: sessions}, true
}

// joinCheckpointBlob is the inverse of splitCheckpointBlob.
// It appends to dst[:0] (growing it only when its capacity is short).
func joinCheckpointBlob(dst []byte, c CheckpointBlobs) []byte {
	b := slices.Grow(dst[:0], 16+len(c.State)+len(c.Sessions))[:16]
	binary.LittleEndian.PutUint64(b, uint64(len(c.State)))
	binary.LittleEndian.PutUint64(b[8:], uint64(len(c.Sessions)))
	if c.StableOmitted > 0 {
		// The omitted bytes are not copied (their pages stay untouched).
		hole := c.StableOffset
		invariants.Assert(hole >= 0 && hole+c.StableOmitted <= len(c.State), "replica: omitted stable bytes outside the state")
		b = append(b, c.State[:hole]...)
		b = b[:len(b)+c.StableOmitted]
		b = append(b, c.State[hole+c.StableOmitted:]...)
		b = append(b, c.Sessions...)
	} else {
		b = append(append(b, c.State...), c.Sessions...)
	}
	invariants.Assert(len(b) == 16+len(c.State)+len(c.Sessions), "replica: checkpoint blob joined to another length")
	if invariants.Enabled {
		s, ok := splitCheckpointBlob(b)
		invariants.Assert(ok && len(s.State) == len(c.State) && len(s.Sessions) == len(c.Sessions), "replica: joined checkpoint blob does not split back")
	}
	return b
}

// encodeSessions appends the replicated client table, sorted by client id:
//
//	magic u64, commit timestamp u64, count u32, then per client:
//	id u128, session u64, request u32, last_op u64, reply_size u32, reply.
func (r *Replica) encodeSessions(dst []byte) []byte {
	t := &r.clients
	order := make([]int, 0, t.used)
	for i := 0; i < t.used; i++ {
		order = append(order, i)
	}
	// Insertion sort: the table is small and this keeps the order
	// independent of slot layout.
	for i := 1; i < len(order); i++ {
		for j := i; j > 0 && t.entries[order[j]].id.Less(t.entries[order[j-1]].id); j-- {
			order[j], order[j-1] = order[j-1], order[j]
		}
	}
	invariants.Assert(len(order) == t.used && t.used <= len(t.entries), "replica: sessions encoded out of the table")
	if invariants.Enabled {
		for i := 1; i < len(order); i++ {
			invariants.Assert(t.entries[order[i-1]].id.Less(t.entries[order[i]].id), "replica: sessions not encoded in strictly ascending client order")
		}
	}
	start := len(dst)
	le := binary.LittleEndian
	dst = le.AppendUint64(dst, sessionsMagic)
	dst = le.AppendUint64(dst, r.commitTimestamp)
	dst = le.AppendUint32(dst, uint32(len(order)))
	for _, i := range order {
		e := &t.entries[i]
		dst = le.AppendUint64(dst, e.id.Lo)
		dst = le.AppendUint64(dst, e.id.Hi)
		dst = le.AppendUint64(dst, e.session)
		dst = le.AppendUint32(dst, e.request)
		dst = le.AppendUint64(dst, e.lastOp)
		var reply []byte
		switch {
		case e.dropped:
			reply = e.reply.Bytes(wire.HeaderSize) // the header of a dropped large reply
		case e.reply != nil:
			reply = e.reply.Bytes(e.replyHeader.Size)
		}
		dst = le.AppendUint32(dst, uint32(len(reply)))
		dst = append(dst, reply...)
	}
	invariants.Assert(uint64(len(dst)-start) <= SessionsSizeMax(r.cfg.Limits), "replica: encoded sessions beyond their bound")
	return dst
}

// restore starts the replica from a checkpoint instead of the root: the
// state after op (whose prepare checksum is checksum), from the blobs that
// Journal.Checkpoint stored (Recover, before any replay). Bytes
// that do not decode return an error wrapping ErrCheckpoint (or the state
// machine's error) and leave the replica unusable.
func (r *Replica) restore(op uint64, checksum wire.Uint128, blobs CheckpointBlobs) error {
	if r.op != 0 || r.commitMin != 0 {
		panic("replica: Restore after the log started")
	}
	// The blob as state sync serves it, first: the machine's restore
	// reads the omitted bytes once, and the manifest's chunks that meet
	// them are checksummed in that pass (holeSums) instead of reading
	// them again to seal.
	r.cp.blob = joinCheckpointBlob(r.cp.blob, blobs)
	r.cp.holeLo, r.cp.holeHi = 0, 0
	chunk := r.syncChunkSize()
	var sums holeSums
	var visit func([]byte)
	if blobs.StableOmitted > 0 {
		r.cp.holeLo = 16 + uint64(blobs.StableOffset)
		r.cp.holeHi = r.cp.holeLo + uint64(blobs.StableOmitted)
		sums = r.cp.startHoleSums(chunk)
		visit = sums.add
	}
	if err := r.restoreBlobs(blobs, visit); err != nil {
		r.cp.blob, r.cp.holeLo, r.cp.holeHi, r.cp.manifest = r.cp.blob[:0], 0, 0, r.cp.manifest[:0]
		return fmt.Errorf("replica: restore checkpoint at op %d: %w", op, err)
	}
	if blobs.StableOmitted > 0 && sums.at != r.cp.holeHi {
		panic(fmt.Sprintf("replica: the state machine restored reading %d of its %d omitted bytes", sums.at-r.cp.holeLo, blobs.StableOmitted))
	}
	r.op, r.commitMin, r.commitMax, r.knownOp, r.logOp = op, op, op, op, op
	r.head, r.committed = checksum, checksum
	r.ring.first = op + 1
	r.cp.op, r.cp.prepare = op, checksum
	// The chunks the restore's pass checksummed are kept; the others are
	// read from the blob (nothing of the hole is read again).
	if err := r.cp.sealKeeping(chunk, sums.keptLo, sums.keptHi, r.grid, nil); err != nil {
		r.requestStable(err) // resealed once repaired (Tick)
	}
	r.cp.snapLen = 0 // the snapshot in blob is the restored one, not one taken here
	r.cp.stableLo, r.cp.stableHi = 0, 0
	invariants.Assert(r.ring.count == 0 && r.future.count == 0 && r.syncFloor == 0, "replica: restored a checkpoint over a log or a lost checkpoint")
	invariants.Assert(r.logView <= r.view, "replica: checkpoint restored with log_view above view")
	return nil
}

// restoreCommittedHeader adds, at a restart after restore and before any
// replay, the header of a committed op the checkpoint covers and the WAL
// still holds, walking back from the checkpoint's op: first the
// checkpoint's op itself, then each op whose checksum is the parent of the
// one restored before. With these headers the replica can name those ops
// when peers repair from it (request_headers, a view change choosing its
// log); without them a peer that lags behind its checkpoint could never
// learn which prepare is the committed one. It returns an error, and
// changes nothing, for a header that does not link.
func (r *Replica) restoreCommittedHeader(h *wire.Header) error {
	if r.op != r.commitMin || r.ring.count != 0 {
		panic("replica: restoreCommittedHeader after replay started")
	}
	switch {
	case h.Command != wire.CommandPrepare || h.Op == 0 || h.Op > r.commitMin:
		return fmt.Errorf("replica: restored header of op %d is not a committed prepare", h.Op)
	case h.Op == r.commitMin:
		if h.Checksum != r.committed {
			return fmt.Errorf("replica: restored header of op %d is not the checkpoint's", h.Op)
		}
	default:
		next, ok := r.log.get(h.Op + 1)
		if !ok || next.Parent != h.Checksum {
			return fmt.Errorf("replica: restored header of op %d does not link to op %d", h.Op, h.Op+1)
		}
	}
	r.putLog(h)
	invariants.Assert(r.logOp == r.commitMin, "replica: a committed header raised the log head")
	return nil
}

// restoreBlobs replaces the state machine and the client table with a
// checkpoint's; visit is given the omitted stable bytes as the machine
// reads them (GridBacked.RestoreOmitting).
func (r *Replica) restoreBlobs(blobs CheckpointBlobs, visit func([]byte)) error {
	invariants.Assert(r.clients.used == 0 && len(r.clients.registering) == 0, "replica: checkpoint restored over a client table")
	var err error
	if blobs.StableOmitted > 0 {
		if r.grid == nil {
			panic("replica: a checkpoint read omitting stable bytes for a machine that is not GridBacked")
		}
		err = r.grid.RestoreOmitting(blobs.State, blobs.StableOmitted, visit)
	} else {
		err = r.sm.Restore(blobs.State)
	}
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	if err := r.decodeSessions(blobs.Sessions); err != nil {
		return err
	}
	// Timestamps resume after the checkpoint's last one.
	invariants.Assert(len(blobs.Sessions) == 0 || r.timestamp == r.commitTimestamp, "replica: restored timestamps behind the checkpoint")
	return nil
}

func (r *Replica) decodeSessions(b []byte) error {
	bad := func(what string) error { return fmt.Errorf("%w: sessions: %s", ErrCheckpoint, what) }
	if len(b) == 0 {
		return nil // a checkpoint without sessions: the format's empty state
	}
	le := binary.LittleEndian
	if len(b) < 20 || le.Uint64(b) != sessionsMagic {
		return bad("bad magic or short header")
	}
	r.commitTimestamp = le.Uint64(b[8:])
	r.timestamp = r.commitTimestamp
	count := int(le.Uint32(b[16:]))
	if count > len(r.clients.entries) {
		return bad(fmt.Sprintf("%d sessions, table holds %d", count, len(r.clients.entries)))
	}
	b = b[20:]
	for i := 0; i < count; i++ {
		if len(b) < 48 {
			return bad("truncated entry")
		}
		id := wire.Uint128{Lo: le.Uint64(b), Hi: le.Uint64(b[8:])}
		session, request, lastOp := le.Uint64(b[16:]), le.Uint32(b[24:]), le.Uint64(b[28:])
		size := int(le.Uint32(b[36:]))
		b = b[40:]
		if len(b) < size || size > int(r.cfg.Limits.MessageSizeMax) {
			return bad("truncated reply")
		}
		if r.clients.get(id) != nil || id.IsZero() {
			return bad("duplicate or zero client id")
		}
		if lastOp < session {
			return bad("session used before it was opened")
		}
		r.clients.register(id, session)
		e := r.clients.get(id)
		e.request, e.lastOp = request, lastOp
		if size > 0 {
			var h wire.Header
			if size < wire.HeaderSize {
				return bad("stored reply shorter than a header")
			}
			if err := wire.DecodeHeader(b[:size], &h, &r.wcfg); err != nil || h.Command != wire.CommandReply {
				return bad("invalid stored reply")
			}
			// A dropped large reply is stored as its header alone.
			slot := r.cfg.Limits.ReplySlotSize
			dropped := size == wire.HeaderSize && h.Size > slot
			if !dropped && int(h.Size) != size {
				return bad("stored reply of another size than its header's")
			}
			if h.Client != id || h.Session != session {
				return bad("stored reply of another client or session")
			}
			large := !dropped && h.Size > slot
			var m *wire.Message
			switch {
			case large && r.clients.large >= r.clients.largeMax:
				return bad(fmt.Sprintf("more than %d large stored replies", r.clients.largeMax))
			case large:
				if m = r.newMessage(); m == nil {
					return bad("message pool too small for large stored replies")
				}
			default:
				m = r.replySlot()
			}
			if !dropped {
				if err := wire.VerifyBody(&h, b[wire.HeaderSize:size]); err != nil {
					m.Unref()
					return bad("stored reply body does not verify")
				}
			}
			copy(m.Buffer, b[:size])
			r.clients.setReply(e, m, &h, large, dropped)
		}
		b = b[size:]
	}
	if len(b) != 0 {
		return bad("trailing bytes")
	}
	invariants.Assert(r.clients.used == count && len(r.clients.index) == count, "replica: decoded sessions not all in the table")
	return nil
}

// replayCommitted re-applies one committed op read back from this replica's
// journal after a restart: ops are replayed in order from CommitMin()+1 and
// must extend the hash chain. Replies are rebuilt but not sent. The caller
// replays only ops it knows committed (up to the commit_max its superblock
// recorded). It returns an error, and changes nothing, for a prepare that
// does not extend the chain.
func (r *Replica) replayCommitted(m *wire.Message, h *wire.Header) error {
	if h.Op != r.op+1 || h.Parent != r.head || r.commitMin != r.op {
		return fmt.Errorf("replica: replay of op %d does not extend the log at op %d", h.Op, r.op)
	}
	invariants.Assert(r.ring.count == 0 && !r.replaying, "replica: committed replay over uncommitted ops, or nested")
	if h.Operation == wire.OperationBatch && !r.prefetch(h, m.Buffer[wire.HeaderSize:h.Size]) {
		return fmt.Errorf("replica: replay of op %d: the state it reads could not be read back", h.Op)
	}
	r.replaying = true
	defer func() { r.replaying = false }()
	e := r.ring.push(m.Ref(), h, r.tick)
	e.written = true
	r.putLog(h)
	r.op, r.head = h.Op, h.Checksum
	r.timestamp = max(r.timestamp, lastTimestamp(h, m.Buffer[wire.HeaderSize:h.Size]))
	r.commitMax = max(r.commitMax, h.Op)
	r.knownOp = max(r.knownOp, h.Op)
	applied := r.commitOne(e)
	invariants.Assert(applied && r.commitMin == h.Op && r.op == h.Op && r.committed == h.Checksum, "replica: replayed op not committed")
	return nil
}

// replayPrepared loads one journaled op beyond the known commit number into
// the log as prepared (durable here, not known committed) after a restart,
// in order after the committed replay. The backup then commits it when the
// primary's commit number covers it instead of fetching it again. It
// returns an error, and changes nothing, when the op does not extend the
// chain or the log has no room.
func (r *Replica) replayPrepared(m *wire.Message, h *wire.Header) error {
	if h.Op != r.op+1 || h.Parent != r.head {
		return fmt.Errorf("replica: replay of op %d does not extend the log at op %d", h.Op, r.op)
	}
	if r.ring.full() {
		return fmt.Errorf("replica: replay of op %d: %w", h.Op, errRingFull)
	}
	invariants.Assert(!r.replaying && h.Command == wire.CommandPrepare, "replica: prepared replay nested, or of something else than a prepare")
	e := r.ring.push(m.Ref(), h, r.tick)
	e.written = true
	r.putLog(h)
	r.op, r.head = h.Op, h.Checksum
	r.timestamp = max(r.timestamp, lastTimestamp(h, m.Buffer[wire.HeaderSize:h.Size]))
	r.knownOp = max(r.knownOp, h.Op)
	invariants.Assert(r.op == h.Op && r.op > r.commitMin && r.ring.count == int(r.op-r.commitMin), "replica: prepared replay not the ring's newest")
	return nil
}

var errRingFull = errors.New("no room for more uncommitted ops")

// restoreView sets the view and log_view recorded in the superblock, at a
// restart (Recover) before anything else reaches the replica.
func (r *Replica) restoreView(view, logView uint32) {
	if logView > view {
		panic(fmt.Sprintf("replica: restored log_view %d above view %d", logView, view))
	}
	invariants.Assert(r.op == 0 && r.ring.count == 0, "replica: view restored after the log started")
	r.view, r.logView = view, logView
}

// startAfterRestart ends recovery (Recover), before the vote is decided. A single replica resumes (every op it
// journaled is committed). In a larger cluster a restarted backup rejoins
// its view and repairs what it missed; a replica that was in a view change,
// or that was the primary (it cannot know what the backups prepared after
// it crashed), starts a view change, in which its durable log votes like
// any other: every op it ever acknowledged is in its journal.
func (r *Replica) startAfterRestart() {
	invariants.Assert(r.status == StatusNormal && !r.rejoin.active, "replica: restart ended after recovery ended")
	r.status = StatusNormal
	r.lastPrimaryTick = r.tick
	if r.cfg.ReplicaCount == 1 {
		r.logView = r.view
		return
	}
	switch {
	case r.view != r.logView:
		r.startViewChange(r.view)
	case r.IsPrimary():
		r.startViewChange(r.view + 1)
	}
	// A restarted primary cannot know what its backups prepared.
	invariants.Assert(r.status == StatusViewChange || (!r.IsPrimary() && r.view == r.logView), "replica: restarted as the primary of its view, or normal in a view it did not install")
}
