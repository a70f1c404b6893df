package replica

import (
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
// backup.

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
