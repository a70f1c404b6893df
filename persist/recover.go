package persist

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/chronon-db/chronon/journal"
	"github.com/chronon-db/chronon/replica"
	"github.com/chronon-db/chronon/wire"
)

// RecoveryInfo says what Recover found in a data file.
type RecoveryInfo struct {
	CheckpointOp uint64 // op of the checkpoint restored (0: none)
	Replayed     uint64 // committed ops replayed from the WAL after it
	Prepared     uint64 // journaled ops after those, loaded as prepared
	WALOpMax     uint64 // highest op the WAL holds
	Restarted    bool   // the data file had been used before
	// HeadersLearned counts the journal's headers above the loaded ops
	// that a damaged replica took as its log, to repair while views
	// change (replica.LearnJournalHeaders).
	HeadersLearned int
	Rejoining      bool // the data file replaces a lost one (see replica.StartRejoining)
	Incomplete     bool // the journal may hold less than was acknowledged (see replica.WithholdVotesUntilCaughtUp)
	// CheckpointDamaged is why the durable checkpoint could not be read
	// (nil when it could): the replica starts without it and copies one
	// from the primary (replica.StartWithoutCheckpoint).
	CheckpointDamaged error
	// Withheld says why Incomplete is set: checkpoint_damaged, unreadable_op, repair,
	// chain_break, faulty_slot, cut (ops cut as never acknowledged) or
	// below_log_head (the journal ends below the log head recorded with
	// log_view, or below an op whose misdirected prepare it found); empty
	// when the replica votes.
	Withheld string
	// DamagedBound is, when the damage is bounded, the highest op the
	// replica may have acknowledged: it sends damaged votes (see
	// replica.VoteDamagedUntilCaughtUp) instead of withholding them. Zero
	// when it withholds or votes normally.
	DamagedBound uint64
}

// Recover rebuilds a new replica r from its journal j: the latest
// checkpoint, then the journaled ops known to be committed. A single
// replica's every journaled op is committed (quorum of one); a replica of a
// larger cluster replays up to the commit number its superblock recorded,
// loads the following intact ops as prepared, and fetches the rest from the
// primary. pool lends buffers for reading prepares.
func Recover(j *journal.Journal, r *replica.Replica, pool *wire.Pool, log *slog.Logger) (RecoveryInfo, error) {
	rec := recovery{j: j, r: r, pool: pool, log: log}
	return rec.run()
}

type recovery struct {
	j    *journal.Journal
	r    *replica.Replica
	pool *wire.Pool
	log  *slog.Logger
	// lost is set when replay stopped at an op the journal names but could
	// not provide (as opposed to one the replica had no room for).
	lost bool
}

func (n *recovery) run() (RecoveryInfo, error) {
	sb := n.j.Superblock()
	report := n.j.Report()
	n.r.RestoreView(sb.VSR.View, sb.VSR.LogView)
	if m := report.MisdirectedOpMax; m > max(report.OpMax, sb.VSR.LogOp) && sb.ReplicaCount > 1 {
		// A prepare of a higher op landed in another slot: in
		// HeaderDeferred mode it may have been acknowledged before its
		// redundant header was written, and its own slot kept nothing.
		// It is part of the log this replica stands for: record it as
		// the log head, durably, because that slot is its only trace and
		// a repair of the slot's own op overwrites it. The journal then
		// ends below the log head until it holds that op again.
		if err := n.j.SetVSRLog(sb.VSR.View, sb.VSR.LogView, m, wire.Uint128{}, sb.VSR.CommitMin, sb.VSR.CommitMax); err != nil {
			return RecoveryInfo{}, fmt.Errorf("persist: record log head %d of a misdirected prepare: %w", m, err)
		}
		n.log.Warn("persist: a misdirected prepare names an op above the journal; the log head covers it", "op", m, "op_max", report.OpMax)
		sb = n.j.Superblock()
	}
	n.r.RestoreLogHead(sb.VSR.LogOp, sb.VSR.LogAnchorOp, sb.VSR.LogAnchor)
	info := RecoveryInfo{CheckpointOp: sb.VSR.CheckpointOp, WALOpMax: report.OpMax}
	// A durable view counts: a replica that voted in a view change and
	// crashed before holding any op must not start normal in that view.
	// So does any earlier start (Started): a primary may have sent
	// prepares that backups hold although none reached its own disk, and
	// must not number ops from 1 again in the same view.
	info.Restarted = sb.VSR.Started || sb.VSR.CheckpointOp > 0 || report.OpMax > 0 || sb.VSR.CommitMax > 0 || sb.VSR.View > 0
	if !sb.VSR.Started {
		if err := n.j.SetStarted(); err != nil {
			return info, fmt.Errorf("persist: mark the data file started: %w", err)
		}
	}
	if sb.VSR.CheckpointOp > 0 {
		data, err := n.j.ReadCheckpoint(journal.CheckpointData{})
		switch {
		case errors.Is(err, journal.ErrCorrupt):
			// A grid block of the checkpoint fails its checksum: start
			// without it and copy one from the primary (state sync).
			info.CheckpointDamaged = fmt.Errorf("checkpoint at op %d: %w", sb.VSR.CheckpointOp, err)
			if err := n.r.StartWithoutCheckpoint(sb.VSR.CheckpointOp); err != nil {
				return info, fmt.Errorf("persist: %w: %w", info.CheckpointDamaged, err)
			}
			n.log.Warn("persist: checkpoint damaged; starting without it to copy one from the primary", "err", info.CheckpointDamaged)
		case err != nil:
			return info, fmt.Errorf("persist: read checkpoint at op %d: %w", sb.VSR.CheckpointOp, err)
		default:
			if err := n.r.Restore(sb.VSR.CheckpointOp, sb.VSR.CheckpointChecksum, replica.CheckpointBlobs{State: data.State, Sessions: data.Sessions}); err != nil {
				return info, fmt.Errorf("persist: %w", err)
			}
			n.restoreCommittedHeaders(sb.VSR.CheckpointOp)
		}
	}
	limit := sb.VSR.CommitMax
	if sb.ReplicaCount == 1 {
		limit = report.OpMax
	}
	chainEnd := report.OpMax
	if report.ChainBreak != 0 {
		chainEnd = min(chainEnd, report.ChainBreak-1)
	}
	// The superblock's commit number is recorded every 100 ms; the
	// journal knows better. Each prepare carries the commit number of its
	// primary, and the intact chain that leads to it holds those committed
	// ops: replay them as committed. What remains beyond is at most a
	// pipeline of ops, which fits the prepare ring (a replica that could
	// load only part of its journal would vote without the rest).
	for op := n.r.CommitMin() + 1; op <= chainEnd; op++ {
		h, ok := n.j.Header(op)
		if !ok {
			break // links across an unknown slot are not checked
		}
		limit = max(limit, min(h.Commit, chainEnd))
	}
	// A recorded commit number above the journal's chain (learned from a
	// heartbeat while ops were still missing here) replays what the chain
	// holds; the rest is fetched, and is no sign of damage.
	limit = min(limit, chainEnd)
	for op := n.r.CommitMin() + 1; op <= limit; op++ {
		ok, err := n.replayOne(op, true)
		if err != nil {
			return info, err
		}
		if !ok {
			break
		}
		info.Replayed++
	}
	// Journaled ops beyond the known commit number: prepared here, maybe
	// committed by the cluster. Load what extends the chain; the primary's
	// commit number decides.
	if n.r.CommitMin() == limit {
		for op := limit + 1; op <= chainEnd; op++ {
			ok, err := n.replayOne(op, false)
			if err != nil {
				return info, err
			}
			if !ok {
				break
			}
			info.Prepared++
		}
	}
	if info.Restarted {
		n.r.StartAfterRestart()
	}
	// A hole, a broken chain, an unknown slot, ops cut as never
	// acknowledged (HeaderDeferred can cut acknowledged ones after a lost
	// write) or an op named but unreadable: the journal may hold less than
	// this replica acknowledged, so it must not vote with its shorter log
	// until it has caught up. Intact ops it merely had no room to load do
	// not count (every replica may have some after a power loss).
	// The same holds when the journal ends below the log head recorded
	// with log_view: it installed a start_view and crashed before holding
	// that log, or truncated ops it had acknowledged and crashed before
	// the new view's log was whole.
	switch {
	case info.CheckpointDamaged != nil:
		info.Withheld = "checkpoint_damaged"
	case n.lost:
		info.Withheld = "unreadable_op"
	case len(report.Repair) > 0:
		info.Withheld = "repair"
	case report.ChainBreak != 0:
		info.Withheld = "chain_break"
	case !report.TruncateSafe():
		info.Withheld = "faulty_slot"
	case len(report.Truncated) > 0:
		info.Withheld = "cut"
	case report.OpMax < sb.VSR.LogOp:
		info.Withheld = "below_log_head"
	}
	if info.Withheld != "" {
		info.Incomplete = true
		// Damage that leaves every acknowledged op named — no slot of
		// unknown op (ops above OpMax were never acknowledged, but for
		// one whose misdirected prepare raised the log head) and no op
		// cut as never acknowledged — is bounded: the replica sends
		// damaged votes that block the truncation of any op up to the
		// bound (docs/replica.md, "Damaged journals vote"). Otherwise it
		// withholds.
		if report.TruncateSafe() && len(report.Truncated) == 0 {
			// Replay may have taken a checkpoint since sb was read, which
			// recorded higher commit numbers: never write them back.
			sb = n.j.Superblock()
			info.DamagedBound = max(report.OpMax, sb.VSR.LogOp, n.r.Op())
			if info.DamagedBound > sb.VSR.LogOp && sb.ReplicaCount > 1 {
				// The bound, durably, as the log head: the journal is its
				// only evidence, and installing a start_view truncates
				// the ops this replica could not load before it records
				// the new log_view. A crash in between must not leave a
				// journal that looks whole at the old log_view.
				if err := n.j.SetVSRLog(sb.VSR.View, sb.VSR.LogView, info.DamagedBound, wire.Uint128{}, sb.VSR.CommitMin, sb.VSR.CommitMax); err != nil {
					return info, fmt.Errorf("persist: record damaged bound %d as the log head: %w", info.DamagedBound, err)
				}
				n.r.RestoreLogHead(info.DamagedBound, sb.VSR.LogAnchorOp, sb.VSR.LogAnchor)
			}
			n.r.VoteDamagedUntilCaughtUp(info.DamagedBound, max(sb.VSR.CommitMax, limit))
			// What its journal still names above the ops it loaded: it
			// repairs its own log from them while views change (a whole
			// cluster restarted damaged has no whole vote otherwise).
			var named []wire.Header
			for op := n.r.Op() + 1; op <= report.OpMax; op++ {
				h, ok := n.j.Header(op)
				if !ok {
					break
				}
				named = append(named, h)
			}
			info.HeadersLearned = n.r.LearnJournalHeaders(named)
		} else {
			n.r.WithholdVotesUntilCaughtUp()
		}
	}
	if sb.VSR.Rejoining {
		info.Rejoining = true
		if err := n.r.StartRejoining(); err != nil {
			return info, fmt.Errorf("persist: %w", err)
		}
	}
	return info, nil
}

// restoreCommittedHeaders gives the replica the headers of the committed
// ops at and below the checkpoint that the WAL still holds, newest first,
// as long as they form the checkpoint's hash chain (the replica checks each
// link). A slot already reused for a newer op, torn or corrupt ends the
// walk: those ops are simply not named by this replica.
func (n *recovery) restoreCommittedHeaders(checkpointOp uint64) {
	for op := checkpointOp; op > 0; op-- {
		h, ok := n.j.Header(op)
		if !ok || n.r.RestoreCommittedHeader(&h) != nil {
			return
		}
	}
}

// replayOne replays op from the WAL, as committed or as prepared only. It
// returns false when the WAL does not hold op intact or the replica cannot
// take it (the replica then repairs it from the primary).
func (n *recovery) replayOne(op uint64, committed bool) (bool, error) {
	h, ok := n.j.Header(op)
	if !ok {
		n.lost = true
		return false, nil
	}
	data, err := n.j.ReadPrepare(op, h.Checksum)
	if err != nil {
		n.lost = true
		return false, nil
	}
	m, err := n.pool.Get()
	if err != nil {
		return false, fmt.Errorf("persist: replay: %w", err)
	}
	defer m.Unref()
	copy(m.Buffer, data)
	var got wire.Header
	wcfg := wire.Config{Cluster: h.Cluster, ReplicaCount: n.j.Superblock().ReplicaCount, MessageSizeMax: uint32(n.pool.MessageSizeMax())}
	if err := wire.DecodeHeader(m.Buffer, &got, &wcfg); err != nil {
		n.lost = true
		return false, nil
	}
	replay := n.r.ReplayPrepared
	if committed {
		replay = n.r.ReplayCommitted
	}
	if err := replay(m, &got); err != nil {
		n.log.Info("persist: replay stopped", "op", op, "err", err)
		return false, nil
	}
	return true, nil
}
