package persist

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/chronon-db/chronon/journal"
	"github.com/chronon-db/chronon/replica"
	"github.com/chronon-db/chronon/wire"
)

// RecoveryInfo says what Recover found in a data file and what the replica
// decided (replica.RecoveryOutcome: how it votes and why).
type RecoveryInfo struct {
	replica.RecoveryOutcome
	CheckpointOp uint64 // op of the durable checkpoint (0: none)
	WALOpMax     uint64 // highest op the WAL holds
	// CheckpointDamaged is why the durable checkpoint could not be read
	// (nil when it could): the replica starts without it and copies one
	// from the primary.
	CheckpointDamaged error
}

// Recover starts a new replica r from its journal j: it reads what the
// replica recovers from (ReadRecovered), hands it to r.Recover, which
// restores, replays and decides whether the replica votes, and logs what
// happened.
//
// With omitStable, the checkpoint's stable prefix that the journal holds is
// not read (journal.Journal.ReadCheckpointOmitting): the replica's
// GridBacked machine reads it through its StableStore.
func Recover(j *journal.Journal, r *replica.Replica, log *slog.Logger, omitStable bool) (RecoveryInfo, error) {
	rec, err := readRecovered(j, omitStable)
	if err != nil {
		return RecoveryInfo{}, err
	}
	info := RecoveryInfo{CheckpointOp: rec.CheckpointOp, WALOpMax: rec.OpMax}
	info.RecoveryOutcome, err = r.Recover(&rec)
	info.CheckpointDamaged = rec.CheckpointDamaged
	if err != nil {
		return info, fmt.Errorf("persist: %w", err)
	}
	if m := info.LogHeadRaised; m != 0 {
		log.Warn("persist: a misdirected prepare names an op above the journal; the log head covers it", "op", m, "op_max", rec.OpMax)
	}
	if info.CheckpointDamaged != nil {
		log.Warn("persist: checkpoint damaged; starting without it to copy one from the primary", "err", info.CheckpointDamaged)
	}
	if info.ReplayStopped != nil {
		log.Info("persist: replay stopped", "err", info.ReplayStopped)
	}
	return info, nil
}

// ReadRecovered reads what a replica recovers from in j: the superblock's
// VSR state, the checkpoint's blobs (or why they cannot be read), and the
// WAL's recovery report, with j as the replica.RecoveryJournal to replay
// from. It marks the data file started (VSRState.Started), durably, before
// the replica can send anything; it decides nothing.
func ReadRecovered(j *journal.Journal) (replica.Recovered, error) { return readRecovered(j, false) }

func readRecovered(j *journal.Journal, omitStable bool) (replica.Recovered, error) {
	sb := j.Superblock()
	report := j.Report()
	rec := replica.Recovered{
		View: sb.VSR.View, LogView: sb.VSR.LogView,
		LogOp: sb.VSR.LogOp, LogAnchorOp: sb.VSR.LogAnchorOp, LogAnchor: sb.VSR.LogAnchor,
		CommitMax: sb.VSR.CommitMax,
		Started:   sb.VSR.Started, Rejoining: sb.VSR.Rejoining,
		CheckpointOp: sb.VSR.CheckpointOp, CheckpointChecksum: sb.VSR.CheckpointChecksum,
		OpMax: report.OpMax, MisdirectedOpMax: report.MisdirectedOpMax, ChainBreak: report.ChainBreak,
		Repairs: len(report.Repair), UnknownSlots: len(report.Faulty), Cut: len(report.Truncated),
		Journal: recoveryJournal{j},
	}
	if !sb.VSR.Started {
		if err := j.SetStarted(); err != nil {
			return rec, fmt.Errorf("persist: mark the data file started: %w", err)
		}
	}
	if sb.VSR.CheckpointOp > 0 {
		var data journal.CheckpointData
		var err error
		if omitStable {
			// The omitted blocks are read, and verified, once: when the
			// machine restores (a damaged one makes the replica take the
			// checkpoint as damaged there, with CheckpointRemains).
			data, err = j.ReadCheckpointOmitting(journal.CheckpointData{})
			if errors.Is(err, journal.ErrCorrupt) {
				// The remains, as a sync basis, without a hole.
				data, err = j.ReadCheckpoint(journal.CheckpointData{})
			}
		} else {
			data, err = j.ReadCheckpoint(journal.CheckpointData{})
		}
		switch {
		case errors.Is(err, journal.ErrCorrupt):
			// A grid block of the checkpoint fails its checksum. What was
			// read before it (a prefix of each blob read) is the basis of
			// the state sync that replaces the checkpoint.
			rec.CheckpointDamaged = fmt.Errorf("checkpoint at op %d: %w", sb.VSR.CheckpointOp, err)
			rec.CheckpointRemains = replica.CheckpointBlobs{State: data.State, Sessions: data.Sessions}
			rec.CheckpointSizes = replica.CheckpointSizes{State: sb.VSR.Refs[journal.RefState].Size, Sessions: sb.VSR.Refs[journal.RefSessions].Size}
		case err != nil:
			return rec, fmt.Errorf("persist: read checkpoint at op %d: %w", sb.VSR.CheckpointOp, err)
		default:
			rec.Checkpoint = replica.CheckpointBlobs{State: data.State, Sessions: data.Sessions,
				StableOmitted: data.StableOmitted, StableOffset: data.StableOffset}
		}
	}
	return rec, nil
}

// recoveryJournal is a journal.Journal as replica.Recover reads it.
type recoveryJournal struct{ j *journal.Journal }

// Header implements replica.RecoveryJournal.
func (rj recoveryJournal) Header(op uint64) (wire.Header, bool) { return rj.j.Header(op) }

// ReadPrepare implements replica.RecoveryJournal: the prepare of op named
// by its trusted header, verified against that header's checksum.
func (rj recoveryJournal) ReadPrepare(op uint64, m *wire.Message, h *wire.Header) bool {
	th, ok := rj.j.Header(op)
	if !ok {
		return false
	}
	data, err := rj.j.ReadPrepare(op, th.Checksum)
	if err != nil {
		return false
	}
	copy(m.Buffer, data)
	wcfg := wire.Config{Cluster: th.Cluster, ReplicaCount: rj.j.Superblock().ReplicaCount, MessageSizeMax: uint32(len(m.Buffer))}
	return wire.DecodeHeader(m.Buffer, h, &wcfg) == nil
}

// CheckpointRemains implements replica.RecoveryJournal: each blob read as
// far as its blocks verify.
func (rj recoveryJournal) CheckpointRemains() (replica.CheckpointBlobs, replica.CheckpointSizes) {
	data, _ := rj.j.ReadCheckpoint(journal.CheckpointData{})
	refs := rj.j.Superblock().VSR.Refs
	return replica.CheckpointBlobs{State: data.State, Sessions: data.Sessions},
		replica.CheckpointSizes{State: refs[journal.RefState].Size, Sessions: refs[journal.RefSessions].Size}
}

// RaiseLogHead implements replica.RecoveryJournal: the superblock records
// op as the log head of its log_view, everything else as it is.
func (rj recoveryJournal) RaiseLogHead(op uint64) error {
	sb := rj.j.Superblock().VSR
	return rj.j.SetVSRLog(sb.View, sb.LogView, op, wire.Uint128{}, sb.CommitMin, sb.CommitMax)
}
