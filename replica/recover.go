package replica

import (
	"errors"
	"fmt"

	"github.com/chronon-db/chronon/internal/invariants"
	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// A replica that restarts on a data file must not vote with a log shorter
// than what it acknowledged before the crash: a view change counting its
// vote could drop a committed op. Recover is where that decision is made,
// from what the journal side read (Recovered) and what replaying the
// journal gave; it returns the decision (RecoveryOutcome). The journal side
// (package persist) only reads: it never decides whether the replica may
// vote. docs/replica.md, "Checkpoints and restart" and "Damaged journals
// vote", explain the rules.

// RecoveryJournal is the journal a replica recovers from, as Recover reads
// it: synchronously, at start-up, before the event loop runs.
type RecoveryJournal interface {
	// Header returns the trusted header of op, if the journal holds one
	// (its prepare may still be damaged).
	Header(op uint64) (wire.Header, bool)
	// ReadPrepare reads the prepare of op that Header names into m and
	// decodes its header into h. It returns false when the journal cannot
	// provide that prepare intact.
	ReadPrepare(op uint64, m *wire.Message, h *wire.Header) bool
	// RaiseLogHead durably records op as the head of the log this replica
	// stands for at its recorded log_view (VSRState.LogOp), keeping view,
	// log_view, the log anchor and the commit numbers as recorded. Recover
	// calls it before it returns, so before the replica votes.
	RaiseLogHead(op uint64) error
	// CheckpointRemains reads the durable checkpoint's blobs whole (the
	// stable prefix included) as far as they read, and their sizes: the
	// remains of a checkpoint whose omitted stable bytes did not read back
	// when the machine restored it (Recovered.CheckpointRemains).
	CheckpointRemains() (CheckpointBlobs, CheckpointSizes)
}

// Recovered is what a replica's data file holds at a restart, as the
// journal side read it: the durable VSR state, the checkpoint, and a
// summary of the WAL's damage. Recover decides from it whether the replica
// votes.
type Recovered struct {
	// View, LogView, LogOp, LogAnchorOp, LogAnchor and CommitMax are the
	// superblock's VSR state (VSRState).
	View        uint32
	LogView     uint32
	LogOp       uint64
	LogAnchorOp uint64
	LogAnchor   wire.Uint128
	CommitMax   uint64
	// Started: a replica ran on this data file before (VSRState.Started).
	Started bool
	// Rejoining: the data file replaces a lost one (format --rejoin).
	Rejoining bool

	// CheckpointOp is the op of the durable checkpoint (0: none), with the
	// checksum of its prepare.
	CheckpointOp       uint64
	CheckpointChecksum wire.Uint128
	// Checkpoint holds its blobs, unless CheckpointDamaged says why they
	// could not be read (a grid block failed its checksum).
	Checkpoint        CheckpointBlobs
	CheckpointDamaged error
	// CheckpointRemains is what could be read of a damaged checkpoint: a
	// prefix of each blob (reading a blob stops at its first bad block),
	// of blobs CheckpointSizes long. A state sync fills the chunks of the
	// primary's checkpoint that match these bytes from them
	// (keepDamagedCheckpoint) and fetches only the others.
	CheckpointRemains CheckpointBlobs
	CheckpointSizes   CheckpointSizes

	// OpMax is the highest op the WAL names (journal.Report.OpMax).
	OpMax uint64
	// MisdirectedOpMax is the highest op named by a prepare found in
	// another op's slot (0: none); it may lie above OpMax.
	MisdirectedOpMax uint64
	// ChainBreak is the first op whose parent does not match the op below
	// it (0: the chain is whole).
	ChainBreak uint64
	// Repairs counts the ops up to OpMax the WAL names but cannot provide.
	Repairs int
	// UnknownSlots counts slots whose op is unknown (journal.Report.Faulty):
	// they may have held an op above OpMax.
	UnknownSlots int
	// Cut counts the intact ops the WAL cut as never acknowledged
	// (journal.Report.Truncated).
	Cut int

	// Journal reads the journaled ops to replay.
	Journal RecoveryJournal
}

// Vote is how a restarted replica takes part in view changes until it has
// caught up with its cluster.
type Vote uint8

const (
	// VoteWhole: its journal holds every op it acknowledged; it votes with
	// its log.
	VoteWhole Vote = iota
	// VoteDamaged: the damage is bounded (RecoveryOutcome.DamagedBound);
	// it sends damaged votes, which block the truncation of every op up to
	// the bound but never supply a log (docs/replica.md, "Damaged journals
	// vote").
	VoteDamaged
	// VoteWithheld: the damage is not bounded; it does not vote, as a
	// rejoining replica without the probe.
	VoteWithheld
)

// String names the vote as logs print it.
func (v Vote) String() string {
	switch v {
	case VoteWhole:
		return "whole"
	case VoteDamaged:
		return "damaged"
	case VoteWithheld:
		return "withheld"
	}
	return fmt.Sprintf("vote(%d)", uint8(v))
}

// Damage is why a restarted replica's journal may hold less than it
// acknowledged, the first that applies in this order.
type Damage uint8

const (
	DamageNone Damage = iota
	// DamageCheckpoint: the durable checkpoint could not be read.
	DamageCheckpoint
	// DamageUnreadableOp: replay stopped at an op the journal names but
	// could not provide.
	DamageUnreadableOp
	// DamageRepair: the WAL names ops it cannot provide.
	DamageRepair
	// DamageChainBreak: the WAL's hash chain breaks.
	DamageChainBreak
	// DamageFaultySlot: a slot's op is unknown.
	DamageFaultySlot
	// DamageCut: ops were cut as never acknowledged (HeaderDeferred can
	// cut acknowledged ones after a lost write).
	DamageCut
	// DamageBelowLogHead: the WAL ends below the log head recorded with
	// log_view (or raised to a misdirected prepare's op).
	DamageBelowLogHead
)

// String returns the name logs and the simulator's trace print (empty for
// DamageNone).
func (d Damage) String() string {
	switch d {
	case DamageNone:
		return ""
	case DamageCheckpoint:
		return "checkpoint_damaged"
	case DamageUnreadableOp:
		return "unreadable_op"
	case DamageRepair:
		return "repair"
	case DamageChainBreak:
		return "chain_break"
	case DamageFaultySlot:
		return "faulty_slot"
	case DamageCut:
		return "cut"
	case DamageBelowLogHead:
		return "below_log_head"
	}
	return fmt.Sprintf("damage(%d)", uint8(d))
}

// RecoveryOutcome is what Recover did and decided.
type RecoveryOutcome struct {
	// Restarted: the data file had been used before (a replica ran on it,
	// or it holds a view, an op or a checkpoint).
	Restarted bool
	// Replayed counts the committed ops replayed after the checkpoint;
	// Prepared the journaled ops after those, loaded as prepared.
	Replayed uint64
	Prepared uint64
	// ReplayStopped is why the replica refused a journaled op it read
	// intact (nil: it refused none).
	ReplayStopped error
	// LogHeadRaised is the op of a misdirected prepare recorded as the log
	// head (0: none).
	LogHeadRaised uint64
	// Vote and Damage: how the replica votes until caught up, and why it
	// does not vote whole (DamageNone when it does).
	Vote   Vote
	Damage Damage
	// DamagedBound is, when Vote is VoteDamaged, the highest op the
	// replica may have acknowledged: its damaged votes block the
	// truncation of every op up to it.
	DamagedBound uint64
	// HeadersLearned counts the journal's headers above the loaded ops
	// that a damaged replica took as its log, to repair while views
	// change (damaged_repair.go).
	HeadersLearned int
	// Rejoining: the replica probes its peers and rejoins
	// (StartRejoining); it does not vote until caught up, whatever Vote
	// says of its journal.
	Rejoining bool
}

// Incomplete reports whether the journal may hold less than the replica
// acknowledged (it does not vote whole).
func (o *RecoveryOutcome) Incomplete() bool { return o.Damage != DamageNone }

// decideVote is the recovery decision table: from the damage found (the
// first that applies, in the order of Damage) and whether it is bounded,
// how a restarted replica votes. Damage is bounded when the journal names
// every op the replica may have acknowledged: no slot of unknown op (ops
// above OpMax were never acknowledged, but for one a misdirected prepare
// raised the log head for) and no op cut as never acknowledged.
func decideVote(d damageFound) (Vote, Damage) {
	var why Damage
	switch {
	case d.checkpointDamaged:
		why = DamageCheckpoint
	case d.unreadableOp:
		why = DamageUnreadableOp
	case d.repairs > 0:
		why = DamageRepair
	case d.chainBreak != 0:
		why = DamageChainBreak
	case d.unknownSlots > 0:
		why = DamageFaultySlot
	case d.cut > 0:
		why = DamageCut
	case d.opMax < d.logHead:
		why = DamageBelowLogHead
	}
	switch {
	case why == DamageNone:
		invariants.Assert(!d.checkpointDamaged && !d.unreadableOp && d.opMax >= d.logHead, "replica: whole vote despite damage")
		return VoteWhole, why
	case d.unknownSlots == 0 && d.cut == 0:
		return VoteDamaged, why
	default:
		invariants.Assert(why != DamageNone, "replica: vote withheld without damage")
		return VoteWithheld, why
	}
}

// damageFound is what decideVote reads.
type damageFound struct {
	checkpointDamaged bool
	unreadableOp      bool
	repairs           int
	chainBreak        uint64
	unknownSlots      int
	cut               int
	opMax, logHead    uint64
}

// Recover starts a new replica from its data file at start-up: call it
// once, after New and before any other input. In order, it restores the
// durable view and log head (recording first, durably, the op of a
// misdirected prepare above the journal as the log head), the checkpoint
// and the committed headers below it, replays the journaled ops known
// committed, then loads the intact ones after them as prepared, resumes
// (startAfterRestart), decides how the replica votes until it has caught
// up (and records a damaged bound durably as the log head), and starts
// rejoining when the data file replaces a lost one.
//
// A single replica's every journaled op is committed (quorum of one); a
// replica of a larger cluster replays up to the commit number its journal
// knows and fetches the rest from the primary. An error (a checkpoint that
// does not decode, a record that fails) leaves the replica unusable.
func (r *Replica) Recover(rec *Recovered) (RecoveryOutcome, error) {
	if r.recovered || r.tick != 0 || r.op != 0 || r.commitMin != 0 || r.view != 0 || r.ring.count != 0 || r.rejoin.active {
		panic("replica: Recover on a replica that has started")
	}
	if rec.Journal == nil {
		panic("replica: Recover without a journal to read")
	}
	r.recovered = true
	var out RecoveryOutcome
	r.restoreView(rec.View, rec.LogView)
	logHead := rec.LogOp
	if m := rec.MisdirectedOpMax; m > max(rec.OpMax, rec.LogOp) && r.cfg.ReplicaCount > 1 {
		// A prepare of a higher op landed in another slot: in
		// HeaderDeferred mode it may have been acknowledged before its
		// redundant header was written, and its own slot kept nothing.
		// It is part of the log this replica stands for: record it as
		// the log head, durably, because that slot is its only trace and
		// a repair of the slot's own op overwrites it. The journal then
		// ends below the log head until it holds that op again.
		if err := rec.Journal.RaiseLogHead(m); err != nil {
			return out, fmt.Errorf("replica: record log head %d of a misdirected prepare: %w", m, err)
		}
		logHead, out.LogHeadRaised = m, m
	}
	r.restoreLogHead(logHead, rec.LogAnchorOp, rec.LogAnchor)
	// A durable view counts: a replica that voted in a view change and
	// crashed before holding any op must not start normal in that view.
	// So does any earlier start (Started): a primary may have sent
	// prepares that backups hold although none reached its own disk, and
	// must not number ops from 1 again in the same view.
	out.Restarted = rec.Started || rec.CheckpointOp > 0 || rec.OpMax > 0 || rec.CommitMax > 0 || rec.View > 0
	if rec.CheckpointOp > 0 {
		if rec.CheckpointDamaged != nil {
			// Start without it and copy one from the primary (state sync).
			if err := r.startWithoutCheckpoint(rec.CheckpointOp); err != nil {
				return out, fmt.Errorf("%w: %w", rec.CheckpointDamaged, err)
			}
			r.keepDamagedCheckpoint(rec.CheckpointRemains, rec.CheckpointSizes)
		} else {
			err := r.restore(rec.CheckpointOp, rec.CheckpointChecksum, rec.Checkpoint)
			switch {
			case err == nil:
				r.restoreCommittedHeaders(rec.Journal, rec.CheckpointOp)
			case errors.Is(err, statemachine.ErrStableRead):
				// Stable bytes the checkpoint omitted do not read back (the
				// machine's restore is where they are read, and verified,
				// once): the checkpoint is damaged; copy one from the
				// primary, with what reads of it as the basis.
				rec.CheckpointDamaged = err
				if err := r.startWithoutCheckpoint(rec.CheckpointOp); err != nil {
					return out, fmt.Errorf("%w: %w", rec.CheckpointDamaged, err)
				}
				rec.CheckpointRemains, rec.CheckpointSizes = rec.Journal.CheckpointRemains()
				r.keepDamagedCheckpoint(rec.CheckpointRemains, rec.CheckpointSizes)
			default:
				return out, err
			}
		}
	}
	limit := rec.CommitMax
	if r.cfg.ReplicaCount == 1 {
		limit = rec.OpMax
	}
	chainEnd := rec.OpMax
	if rec.ChainBreak != 0 {
		chainEnd = min(chainEnd, rec.ChainBreak-1)
	}
	// The superblock's commit number is recorded every 100 ms; the
	// journal knows better. Each prepare carries the commit number of its
	// primary, and the intact chain that leads to it holds those committed
	// ops: replay them as committed. What remains beyond is at most a
	// pipeline of ops, which fits the prepare ring (a replica that could
	// load only part of its journal would vote without the rest).
	for op := r.commitMin + 1; op <= chainEnd; op++ {
		h, ok := rec.Journal.Header(op)
		if !ok {
			break // links across an unknown slot are not checked
		}
		limit = max(limit, min(h.Commit, chainEnd))
	}
	// A recorded commit number above the journal's chain (learned from a
	// heartbeat while ops were still missing here) replays what the chain
	// holds; the rest is fetched, and is no sign of damage.
	limit = min(limit, chainEnd)
	invariants.Assert(limit <= chainEnd && chainEnd <= rec.OpMax, "replica: replay beyond the journal's chain")
	start := r.commitMin
	lost := false
	for op := r.commitMin + 1; op <= limit; op++ {
		ok, err := r.replayOne(rec.Journal, op, true, &out, &lost)
		if err != nil {
			return out, err
		}
		if !ok {
			break
		}
		out.Replayed++
	}
	// Journaled ops beyond the known commit number: prepared here, maybe
	// committed by the cluster. Load what extends the chain; the primary's
	// commit number decides.
	if r.commitMin == limit {
		for op := limit + 1; op <= chainEnd; op++ {
			ok, err := r.replayOne(rec.Journal, op, false, &out, &lost)
			if err != nil {
				return out, err
			}
			if !ok {
				break
			}
			out.Prepared++
		}
	}
	// Each committed replay committed one op; each prepared one is in
	// the ring, uncommitted.
	invariants.Assert(r.commitMin == start+out.Replayed && r.op == r.commitMin+out.Prepared, "replica: replay counts disagree with the log")
	invariants.Assert(out.Prepared == 0 || r.commitMin == limit, "replica: ops prepared after a committed replay that stopped")
	if out.Restarted {
		r.startAfterRestart()
	}
	// A hole, a broken chain, an unknown slot, ops cut as never
	// acknowledged or an op named but unreadable: the journal may hold
	// less than this replica acknowledged, so it must not vote with its
	// shorter log until it has caught up. Intact ops it merely had no room
	// to load do not count (every replica may have some after a power
	// loss). The same holds when the journal ends below the log head
	// recorded with log_view: it installed a start_view and crashed before
	// holding that log, or truncated ops it had acknowledged and crashed
	// before the new view's log was whole.
	out.Vote, out.Damage = decideVote(damageFound{
		checkpointDamaged: rec.CheckpointDamaged != nil,
		unreadableOp:      lost,
		repairs:           rec.Repairs,
		chainBreak:        rec.ChainBreak,
		unknownSlots:      rec.UnknownSlots,
		cut:               rec.Cut,
		opMax:             rec.OpMax,
		logHead:           logHead,
	})
	switch out.Vote {
	case VoteDamaged:
		if r.cfg.ReplicaCount > 1 && r.logHeadView != r.logView {
			panic(fmt.Sprintf("replica: log head of log_view %d at recovery in log_view %d", r.logHeadView, r.logView))
		}
		// The damage is bounded: the replica sends damaged votes that
		// block the truncation of any op up to the bound (docs/replica.md,
		// "Damaged journals vote").
		out.DamagedBound = max(rec.OpMax, r.logHead, r.op)
		if out.DamagedBound > r.logHead && r.cfg.ReplicaCount > 1 {
			// The bound, durably, as the log head: the journal is its
			// only evidence, and installing a start_view truncates the
			// ops this replica could not load before it records the new
			// log_view. A crash in between must not leave a journal that
			// looks whole at the old log_view.
			if err := rec.Journal.RaiseLogHead(out.DamagedBound); err != nil {
				return out, fmt.Errorf("replica: record damaged bound %d as the log head: %w", out.DamagedBound, err)
			}
			r.logHead = out.DamagedBound
		}
		// A checkpoint taken by the replay raised the durable commit
		// numbers to its op, which the replay reached: limit covers it.
		r.voteDamagedUntilCaughtUp(out.DamagedBound, max(rec.CommitMax, limit))
		// What its journal still names above the ops it loaded: it
		// repairs its own log from them while views change (a whole
		// cluster restarted damaged has no whole vote otherwise).
		out.HeadersLearned = r.learnJournalHeaders(rec.Journal, rec.OpMax)
	case VoteWithheld:
		r.withholdVotesUntilCaughtUp()
	}
	if rec.Rejoining {
		out.Rejoining = true
		if err := r.startRejoining(); err != nil {
			return out, err
		}
	}
	return out, nil
}

// restoreCommittedHeaders gives the replica the headers of the committed
// ops at and below the checkpoint that the journal still holds, newest
// first, as long as they form the checkpoint's hash chain (the replica
// checks each link). A slot already reused for a newer op, torn or corrupt
// ends the walk: those ops are simply not named by this replica.
func (r *Replica) restoreCommittedHeaders(j RecoveryJournal, checkpointOp uint64) {
	invariants.Assert(checkpointOp == r.commitMin && r.op == r.commitMin, "replica: committed headers restored off the checkpoint")
	for op := checkpointOp; op > 0; op-- {
		h, ok := j.Header(op)
		if !ok || r.restoreCommittedHeader(&h) != nil {
			break
		}
	}
	invariants.Assert(r.logOp == r.commitMin && r.op == r.commitMin, "replica: committed headers moved the log head")
}

// replayOne replays op from the journal, as committed or as prepared only.
// It returns false when the journal does not hold op intact (setting
// *lost) or the replica cannot take it (it then repairs it from the
// primary; out.ReplayStopped says why).
func (r *Replica) replayOne(j RecoveryJournal, op uint64, committed bool, out *RecoveryOutcome, lost *bool) (bool, error) {
	m, err := r.pool.Get()
	if err != nil {
		return false, fmt.Errorf("replica: replay of op %d: %w", op, err)
	}
	defer m.Unref()
	var h wire.Header
	if !j.ReadPrepare(op, m, &h) {
		*lost = true
		return false, nil
	}
	if h.Op != op {
		panic(fmt.Sprintf("replica: the journal read op %d for op %d", h.Op, op))
	}
	replay := r.replayPrepared
	if committed {
		replay = r.replayCommitted
	}
	if err := replay(m, &h); err != nil {
		out.ReplayStopped = err
		return false, nil
	}
	invariants.Assert(r.op == op && r.head == h.Checksum, "replica: replayed op is not the head")
	return true, nil
}
