package replica

import (
	"encoding/binary"
	"fmt"

	"github.com/chronon-db/chronon/internal/invariants"
	"github.com/chronon-db/chronon/wire"
)

// A replica whose own durable checkpoint cannot be read at restart (a
// state or client-table grid block fails its checksum) has lost the
// state its WAL replay would start from. It must neither crash-loop nor
// wait for an operator while the cluster holds good copies. Recovery
// starts it from the root state instead (startWithoutCheckpoint): it
// withholds its vote (it may have acknowledged ops it can no longer
// replay) and replays what its own WAL still holds from the root (a WAL
// that has not wrapped since rebuilds the state and takes the checkpoint
// again). Short of that, it journals no op at or below the lost checkpoint
// (the journal's WAL starts after it), asks the primary for a checkpoint
// at or after it (request_sync_checkpoint naming the lost checkpoint's op:
// the primary offers its latest one), copies it by state sync, makes it
// its own durable checkpoint, and repairs the ops after it as any lagging
// backup. What it could read of its checkpoint (keepDamagedCheckpoint) is
// the basis of that sync: only the chunks that do not match it travel.

// startWithoutCheckpoint is for a replica of a cluster whose durable
// checkpoint at op could not be read at restart. Recover calls it instead
// of restore, before any replay: the replica stays at the root state until
// it copies a checkpoint at op or later from the primary, and does not vote
// whole until it has caught up (DamageCheckpoint). A single replica has no
// peers to copy from: it returns an error wrapping ErrCheckpoint.
func (r *Replica) startWithoutCheckpoint(op uint64) error {
	if r.cfg.ReplicaCount == 1 {
		return fmt.Errorf("%w: the checkpoint at op %d is damaged and a single replica has no peer to copy it from", ErrCheckpoint, op)
	}
	if r.op != 0 || r.commitMin != 0 {
		panic("replica: startWithoutCheckpoint after the log started")
	}
	invariants.Assert(op > 0 && r.syncFloor == 0, "replica: lost checkpoint at the root, or lost twice")
	r.syncFloor = op
	invariants.Assert(r.needsCheckpoint(), "replica: a lost checkpoint not waited for")
	return nil
}

// needsCheckpoint reports whether the replica still waits for a checkpoint
// to replace the one it could not read.
func (r *Replica) needsCheckpoint() bool {
	invariants.Assert(r.syncFloor == 0 || r.cfg.ReplicaCount > 1, "replica: a single replica waits for a checkpoint")
	return r.commitMin < r.syncFloor
}

// requestCheckpointFloor asks the primary for a checkpoint at or after the
// one this replica lost, at most once per prepare timeout.
func (r *Replica) requestCheckpointFloor() {
	invariants.Assert(r.needsCheckpoint(), "replica: checkpoint asked for without one lost")
	if r.sync.active || r.IsPrimary() || r.status != StatusNormal {
		return
	}
	if r.sync.lastSent != 0 && r.tick-r.sync.lastSent < r.cfg.PrepareTimeoutTicks {
		return
	}
	r.sync.lastSent = r.tick
	h := r.header(wire.CommandRequestSyncCheckpoint)
	h.Op = r.syncFloor
	invariants.Assert(h.Op > r.commitMin, "replica: checkpoint asked for at or below commit_min")
	r.sendHeaderOnly(r.primaryIndex(), &h)
	r.Counters.SyncsRequested++
}

// CheckpointSizes are the lengths of a checkpoint's blobs.
type CheckpointSizes struct {
	State, Sessions uint64
}

// keepDamagedCheckpoint keeps what this replica could read of the
// checkpoint it lost (remains: a prefix of each blob of the given sizes)
// as the basis of its next state sync: the blob as state sync carries it,
// with a manifest naming the chunks read whole (the others' entries are
// zero: never matched). Remains larger than their sizes, or a checkpoint
// larger than a sync may copy, or nothing read, are not kept.
func (r *Replica) keepDamagedCheckpoint(remains CheckpointBlobs, sizes CheckpointSizes) {
	invariants.Assert(r.needsCheckpoint() && r.cp.op == 0, "replica: damaged checkpoint kept with a checkpoint in hand")
	st, se := uint64(len(remains.State)), uint64(len(remains.Sessions))
	if st+se == 0 || st > sizes.State || se > sizes.Sessions || sizes.State > r.checkpointSizeMax() || sizes.Sessions > r.checkpointSizeMax()-sizes.State ||
		16+sizes.State+sizes.Sessions > r.checkpointSizeMax() {
		return
	}
	size := 16 + sizes.State + sizes.Sessions
	b := make([]byte, size)
	binary.LittleEndian.PutUint64(b, sizes.State)
	binary.LittleEndian.PutUint64(b[8:], sizes.Sessions)
	copy(b[16:], remains.State)
	copy(b[16+sizes.State:], remains.Sessions)
	// Bytes known: the header and the state read, then the sessions read
	// (one range when the state was read whole).
	end1, start2, end2 := 16+st, 16+sizes.State, 16+sizes.State+se
	if st == sizes.State {
		end1 = end2
	}
	chunk := r.syncChunkSize()
	m := make([]byte, 0, wire.SyncManifestEntrySize*r.syncChunkCount(size))
	known := uint64(0)
	for lo := uint64(0); lo < size; lo += chunk {
		hi := min(lo+chunk, size)
		var sum wire.Uint128
		if hi <= end1 || (lo >= start2 && hi <= end2) {
			sum = wire.Checksum(b[lo:hi])
			known++
		}
		m = binary.LittleEndian.AppendUint64(m, sum.Lo)
		m = binary.LittleEndian.AppendUint64(m, sum.Hi)
	}
	r.damaged = checkpointCopy{blob: b, manifest: m}
	invariants.Assert(r.syncBasis() == &r.damaged || known == 0 || r.syncNoBasis, "replica: damaged checkpoint kept but not the sync's basis")
	invariants.Assert(uint64(len(m)) == wire.SyncManifestEntrySize*r.syncChunkCount(size), "replica: damaged checkpoint's manifest does not name every chunk")
}
