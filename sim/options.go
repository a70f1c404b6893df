package sim

import (
	"fmt"
	"math/rand/v2"
)

// Workload selects the state machine and the clients' operations.
type Workload uint8

// Workloads.
const (
	// WorkloadRandom picks kv or ledger from the seed.
	WorkloadRandom Workload = iota
	// WorkloadKV runs kv.Store with put/get/delete/compare_and_set on a
	// small key space.
	WorkloadKV
	// WorkloadLedger runs ledger.Ledger with account creation, transfers
	// and lookups.
	WorkloadLedger
)

func (w Workload) String() string {
	switch w {
	case WorkloadKV:
		return "kv"
	case WorkloadLedger:
		return "ledger"
	}
	return "random"
}

// Options configure one simulation run. The zero value of every field but
// Seed means "choose from the seed".
type Options struct {
	// Seed drives every random choice of the run.
	Seed uint64
	// Replicas is the replica count (1, 3 or 5; 0: from the seed).
	Replicas int
	// Clients is the number of simulated clients (0: 1..6 from the seed).
	Clients int
	// Ticks is the length of the fault phase (0: DefaultTicks).
	Ticks int
	// LivenessTicks bounds the fault-free phase at the end in which the
	// cluster must commit again and converge (0: DefaultLivenessTicks).
	LivenessTicks int
	// Workload selects the state machine (WorkloadRandom: from the seed).
	Workload Workload
	// PrimaryFaults forces faults that hit the primary (crash, storage
	// faults, partitions cutting it off) even when
	// enablePrimaryFaultsByDefault is false.
	PrimaryFaults bool
	// NoPrimaryFaults keeps faults away from the primary (a cluster without
	// view change would stall by design when it loses its primary).
	NoPrimaryFaults bool
	// NoFaults disables every fault (a clean run).
	NoFaults bool
	// NoRogue turns the rogue endpoint off (sim/rogue.go). A seed's run
	// is the same with or without it, but for the rogue's own counts.
	NoRogue bool
	// PowerLoss adds whole-cluster power losses to the fault mix: every
	// replica crashes at once (unsynced writes lost or torn), beyond the f
	// faults the other kinds respect, and all restart from their data
	// files. Off by default so the default mix (and its regression seeds)
	// stay as they are.
	PowerLoss bool
	// Pause adds pauses to the fault mix: a replica (usually the primary)
	// is stopped as with SIGSTOP — no ticks, no journal completions,
	// everything sent to it held — for 60..400 ticks while the others move
	// on, then gets all it missed in one burst (sim/pause.go). Off by
	// default so the default mix (and its regression seeds) stay as they
	// are.
	Pause bool
	// CheckpointRot adds bit rot in a grid block the durable checkpoint
	// uses (state, client sessions, outbox or free set) of a replica with
	// storage faults while it is down: at restart it must rebuild its free
	// set, or start without its checkpoint and copy one from the primary.
	// Off by default so the default mix (and its regression seeds) stay as
	// they are.
	CheckpointRot bool
	// PeerLoss tells the peers of a replica that crashes that their
	// connections to it closed (replica.OnPeerLost), as the node does when
	// a process dies, so the backups of a crashed primary suspect it after
	// PrimaryLostTimeoutTicks instead of the normal timeout. Off by default
	// so the default mix (and its regression seeds) stay as they are.
	PeerLoss bool
	// PowerLossInFlight makes power losses (PowerLoss) also lose or tear
	// the prepare writes in flight on every replica, as plain crashes do.
	// Off by default: more than f replicas may then come back without a
	// whole vote (a torn head op cannot be told from bit rot of an
	// acknowledged one) and a few seeds stall; see docs/simulator.md.
	PowerLossInFlight bool
	// StorageOpTicks bounds each storage operation's latency in host
	// ticks (drawn per operation), so the journal's stages (prepare
	// writes, sync, header writes, sync) spread over the replica's steps as
	// on a disk; 0 means the default, 2. InstantStorage overrides it:
	// every operation completes within the tick it was submitted in (the
	// scenario files, whose timings were written that way, use it).
	StorageOpTicks int
	InstantStorage bool
	// Prepares says when the primary cuts prepares
	// (replica.Config.EagerPrepares): PreparesBySeed (the default) makes
	// odd seeds eager and even seeds group-commit, the node's behaviour.
	Prepares PrepareMode
	// SyncChunkSize is replica.Config.SyncChunkSize; 0 chooses by seed:
	// 1 KiB for half of them (seed/2 even), so that the simulator's small
	// checkpoints span many chunks and a state sync fills those unchanged
	// from the replica's own checkpoint, a message's body for the others.
	SyncChunkSize uint64
	// QuorumOverride is passed to replica.Config (0: majority). Only for
	// tests proving the checkers catch a broken protocol.
	QuorumOverride int
	// Lie injects a broken environment the checkers must catch (tests).
	Lie Lie
	// OutboxKV gives kv replicas an (always empty) outbox table too. Off
	// by default so kv runs keep their trajectories: the table changes
	// checkpoint sizes and with them the runs.
	OutboxKV bool
	// NoAdmission turns the outbox admission off (sim/outbox.go,
	// configureAdmission): a full table then answers outbox_full at once.
	NoAdmission bool
	// TraceTail is the number of trace lines kept for failure reports
	// (0: 40).
	TraceTail int
}

// Lie is a deliberately broken piece of the environment, used to prove the
// checkers catch what VSR cannot tolerate.
type Lie uint8

// Lies.
const (
	// LieNone: an honest environment.
	LieNone Lie = iota
	// LieResealPrepare: the network changes a byte of a prepare's body
	// (a client request inside the batch) and reseals its checksums, so a
	// backup journals and commits a forged op.
	LieResealPrepare
	// LieResealSyncChunk: the network changes bytes in state sync chunks
	// and manifest pages (the first copy of each, then half) and reseals
	// their checksums; the receiver must refuse each forged chunk against
	// its manifest entry, and a forged manifest against the checkpoint's
	// id, and never install a forged checkpoint.
	LieResealSyncChunk
)

// Defaults for Options.
const (
	DefaultTicks         = 2500
	DefaultLivenessTicks = 2500
)

// enablePrimaryFaultsByDefault is the one-line switch for primary faults.
// It was false until view change landed (a lost primary stalled the
// cluster); Options.NoPrimaryFaults turns them off per run.
const enablePrimaryFaultsByDefault = true

// scenario is the fully resolved configuration of a run.
type scenario struct {
	Options
	workload Workload

	// network
	latencyMin, latencyMax uint64
	lossPct, dupPct        float64
	partitionPct           float64 // per-tick chance of starting a partition
	partitionTicksMax      uint64

	// storage
	storageLatencyMax  uint64
	misdirectWrite     float64
	misdirectRead      float64
	gridWriteFault     float64 // chance that a block written ahead of a checkpoint is lost or misdirected
	crashPct           float64 // per-tick chance of crashing a replica
	crashMidWritePct   float64 // share of crashes armed to happen inside a write
	reformatPct        float64 // share of other crashes that lose the data file (replaced with format --rejoin)
	downTicksMax       uint64
	corruptPct         float64 // per-tick chance of a bit-rot fault
	powerLossPct       float64 // per-tick chance of a whole-cluster power loss (Options.PowerLoss)
	pausePct           float64 // per-tick chance of pausing a replica (Options.Pause)
	clientRestartPct   float64
	corruptMsgPct      float64 // per-message chance of a bit flip on the wire
	crashCutPct        float64 // chance that a backup crash losing writes in flight also cuts off the primary
	clientRetryTicks   uint64
	requestsPerClient  int // in the liveness phase
	thinkTicksMax      uint64
	primaryFaultsFinal bool
}

func newScenario(o Options) (*scenario, *rand.Rand) {
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed^0x5eed5eed5eed5eed))
	s := &scenario{Options: o}
	if s.Replicas == 0 {
		s.Replicas = []int{1, 3, 3, 3, 5, 5}[rng.IntN(6)]
	}
	if s.Clients == 0 {
		s.Clients = 1 + rng.IntN(6)
	}
	if s.Ticks == 0 {
		s.Ticks = DefaultTicks
	}
	if s.LivenessTicks == 0 {
		s.LivenessTicks = DefaultLivenessTicks
	}
	if s.TraceTail == 0 {
		s.TraceTail = 40
	}
	s.workload = o.Workload
	if s.workload == WorkloadRandom {
		s.workload = WorkloadKV + Workload(rng.IntN(2))
	}
	s.primaryFaultsFinal = o.PrimaryFaults || (enablePrimaryFaultsByDefault && !o.NoPrimaryFaults)
	s.latencyMin = 1 + rng.Uint64N(2)
	s.latencyMax = s.latencyMin + rng.Uint64N(8)
	s.clientRetryTicks = 4*s.latencyMax + 10 + rng.Uint64N(20)
	s.requestsPerClient = 3
	s.thinkTicksMax = rng.Uint64N(6)
	if o.NoFaults {
		return s, rng
	}
	// Swarm testing (as TigerBeetle's VOPR and FoundationDB do): each
	// fault kind gets its own level per seed, off in some seeds and turned
	// up in others, so that rare combinations occur; some seeds run long.
	s.lossPct = pick(rng, 0, 0, 0.01, 0.05, 0.15, 0.30)
	s.dupPct = pick(rng, 0, 0, 0.02, 0.10, 0.30)
	s.partitionPct = pick(rng, 0, 0, 0.002, 0.01, 0.03)
	s.partitionTicksMax = 50 + rng.Uint64N(200)
	s.storageLatencyMax = rng.Uint64N(6)
	if rng.IntN(6) == 0 {
		s.storageLatencyMax = 10 + rng.Uint64N(11) // slow disks: long write windows
	}
	s.misdirectWrite = pick(rng, 0, 0, 0, 0.002, 0.01, 0.03)
	s.misdirectRead = pick(rng, 0, 0, 0, 0.002, 0.01, 0.03)
	s.crashPct = pick(rng, 0, 0.002, 0.005, 0.005, 0.01)
	s.crashMidWritePct = pick(rng, 0.5, 0.5, 0, 0.9)
	s.reformatPct = pick(rng, 0.15, 0.15, 0, 0.4)
	s.downTicksMax = 20 + rng.Uint64N(150)
	s.corruptPct = pick(rng, 0, 0.002, 0.01, 0.03)
	s.clientRestartPct = pick(rng, 0, 0.0005, 0.002)
	s.corruptMsgPct = pick(rng, 0, 0, 0.001, 0.01)
	s.crashCutPct = pick(rng, 0, 0.5, 1)
	if o.Ticks == 0 && rng.IntN(10) == 0 {
		s.Ticks = DefaultTicks * (2 + rng.IntN(2)) // a long run
	}
	// Drawn from the seed without the scenario's PRNG, so that the other
	// levels stay the seed's.
	s.gridWriteFault = []float64{0, 0.05, 0.2}[(o.Seed*0x9e3779b97f4a7c15)>>62%3]
	if o.PowerLoss && s.Replicas > 1 {
		// About one per run of DefaultTicks; drawn only in these runs, so
		// the random streams of the default mix do not change.
		s.powerLossPct = 0.0005
	}
	if o.Pause && s.Replicas > 1 {
		// About two per run of DefaultTicks; drawn only in these runs.
		s.pausePct = 0.001
	}
	return s, rng
}

// pick returns one of vals at random: the seed's level of one fault kind.
func pick(rng *rand.Rand, vals ...float64) float64 { return vals[rng.IntN(len(vals))] }

func (s *scenario) String() string {
	str := fmt.Sprintf("replicas=%d clients=%d workload=%s ticks=%d+%d latency=[%d,%d] loss=%.2f dup=%.2f partition=%.3f misdirect=%.3f/%.3f crash=%.3f mid_write=%.1f reformat=%.2f corrupt=%.3f grid_write=%.2f wire_corrupt=%.3f storage_latency=%d primary_faults=%v",
		s.Replicas, s.Clients, s.workload, s.Ticks, s.LivenessTicks, s.latencyMin, s.latencyMax, s.lossPct, s.dupPct,
		s.partitionPct, s.misdirectWrite, s.misdirectRead, s.crashPct, s.crashMidWritePct, s.reformatPct, s.corruptPct, s.gridWriteFault, s.corruptMsgPct,
		s.storageLatencyMax, s.primaryFaultsFinal)
	if s.Pause {
		str += " pause=true"
	}
	return str
}

// PrepareMode is Options.Prepares.
type PrepareMode uint8

// Prepare modes.
const (
	// PreparesBySeed: eager for odd seeds, group commit for even ones.
	PreparesBySeed PrepareMode = iota
	// PreparesEager: a prepare whenever requests wait and the pipeline
	// has room (deep pipelines of small prepares).
	PreparesEager
	// PreparesGrouped: while a prepare is in flight, a new one only when
	// the queued requests fill it (node's default).
	PreparesGrouped
)

// syncChunkSize is replica.Config.SyncChunkSize for this run.
func (s *scenario) syncChunkSize() uint64 {
	if s.SyncChunkSize != 0 || (s.Seed/2)%2 == 1 {
		return s.SyncChunkSize
	}
	return 1 << 10
}

// eagerPrepares is replica.Config.EagerPrepares for this run.
func (s *scenario) eagerPrepares() bool {
	switch s.Prepares {
	case PreparesEager:
		return true
	case PreparesGrouped:
		return false
	}
	return s.Seed%2 == 1
}
