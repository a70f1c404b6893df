package node

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/chronon-db/chronon/internal/bus"
	"github.com/chronon-db/chronon/internal/persist"
	cio "github.com/chronon-db/chronon/io"
	"github.com/chronon-db/chronon/journal"
	"github.com/chronon-db/chronon/outbox"
	"github.com/chronon-db/chronon/replica"
	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// Config configures a Node.
type Config struct {
	// DataFile is the path of the replica's data file (made by
	// `chronon format` or journal.Format). The cluster id, the replica
	// index and the replica count come from it.
	DataFile string
	// Addresses are every replica's "host:port", by index; this replica
	// listens on its own (port 0 picks a free one, see Node.Port).
	Addresses []string
	// StateMachine is the replicated state machine (e.g. a ledger). An
	// *outbox.Machine (a state machine with an outbox, the same config on
	// every replica) gets a dispatcher that delivers its effects through
	// Sink while this replica is the primary.
	StateMachine statemachine.StateMachine
	// TickInterval is the replica's tick (default 10 ms).
	TickInterval time.Duration
	// IOBackend forces an io backend (default: automatic).
	IOBackend cio.Backend
	// Logger receives the node's logs (default slog.Default()).
	Logger *slog.Logger
	// Sink delivers the outbox's effects while this replica is the primary
	// (nil: effects accumulate until a replica with a sink leads).
	Sink outbox.Sink
	// EffectsWorkers is the number of concurrent calls to Sink
	// (dispatcher workers; default 8 for an outbox.BatchSink, each call
	// a batch, and 64 for another Sink, each call one effect).
	EffectsWorkers int
	// EffectsBatchMax bounds the effects one worker hands a Sink that is
	// an outbox.BatchSink in one call (default 64).
	EffectsBatchMax int
	// EffectsAdmission is the fill of the outbox, in percent, above which
	// this replica, as primary, slows admission of requests that emit
	// effects (outbox.Machine.SetAdmission; docs/outbox.md, "Admission"):
	// 0 means 50, negative turns it off (then a full outbox answers
	// outbox_full at once).
	EffectsAdmission int
	// EffectsAdmissionWait bounds how long a request waits for admission
	// before it is prepared anyway (default 5 s; replica.Config.AdmissionWaitTicks).
	EffectsAdmissionWait time.Duration
	// CacheSize is the memory, in bytes, of the block cache through which
	// a GridBacked state machine (the ledger) reads back the state it
	// dropped from memory (default 64 MiB, at least one grid block).
	// StateInMemory keeps the whole state in memory instead.
	CacheSize     int64
	StateInMemory bool
	// StatusLogInterval, when positive, logs a "node: status" line (view,
	// status, op, commits, connected peers, the commit checksum and the
	// state digest) at that interval.
	StatusLogInterval time.Duration
	// ConnectionsMax is the number of client connections the replica
	// takes at once (default: the data file's ClientsMax). A connection
	// costs a 4 KiB receive buffer and its socket; message buffers come
	// from a budget shared by all clients (wire.Limits.ClientMessagesMax).
	// A connection beyond it gets eviction(too_many_connections).
	ConnectionsMax int
	// ClientIdleTimeout closes a client connection with no traffic for
	// this long (default one minute); an accepted connection that sends
	// no whole message within a tenth of it is closed too.
	ClientIdleTimeout time.Duration
	// ConnectionsPerAddress bounds the connections one source address
	// holds that are not authenticated replicas; one more replaces that
	// address's oldest silent connection, or is refused with
	// eviction(too_many_connections). 0 means half of ConnectionsMax (at
	// least 1), negative no bound. Loopback addresses are exempt.
	ConnectionsPerAddress int
	// ClusterKeys, when set, make this replica's connections to its peers
	// authenticate both ways with HMAC-SHA-256 (docs/protocol.md, "Peer
	// authentication"): the first key is the one offered first, every
	// key is accepted (a rotation lists the new and the old). Without keys
	// peers are not authenticated, and a warning says so at start when the
	// cluster has more than one replica.
	ClusterKeys [][32]byte
	// RedirectsPerTick bounds the redirects the replica sends per tick
	// while it is a backup (replica.Config.RedirectsPerTick; 0: 16).
	RedirectsPerTick int
}

// ErrConfig means the Config does not match the data file or is unusable.
var ErrConfig = errors.New("node: invalid config")

// ErrStateDamaged is returned by Run when a single replica's commits wait
// for grid blocks of its state that do not read back: it has no peer to
// repair them from, and a restart would find its checkpoint damaged too.
var ErrStateDamaged = errors.New("node: state in the data file damaged")

// Node is one running replica.
type Node struct {
	cfg Config
	log *slog.Logger
	// damageSeen and damageWarned: the read failures warnDamage last
	// logged, and when.
	damageSeen   uint64
	damageWarned time.Time
	file         *cio.File
	storage      *journal.IOStorage
	journal      *journal.Journal
	// io is the replica's one ring: sockets and the data file. Prepare
	// writes complete through it while the loop goes on; the journal's
	// synchronous steps wait on it for their own operations only
	// (io.IO.WaitStorage).
	io      *cio.IO
	pool    *wire.Pool
	bus     *bus.Bus
	wal     *persist.Adapter
	replica *replica.Replica

	recovered persist.RecoveryInfo
	closed    bool
	// linked holds, per peer, whether the bus was connected to it at the
	// last tick: a connection that went away is reported to the replica.
	linked  []bool
	status  status
	metrics metricsBox

	// outbox is the state machine when it is an *outbox.Machine, else nil.
	outbox *outbox.Machine
	// disp dispatches effects while this replica leads (its Step is the
	// dispatch policy, the same code the simulator runs).
	disp *outbox.Dispatcher
	// dispatched is when the loop last ran disp.Step.
	dispatched time.Time
}

// status is the replica's progress, published by the event loop every tick
// for readers on other goroutines.
type status struct {
	op, commitMin, commitMax atomic.Uint64
	view, peers              atomic.Uint32
}

// Status is a snapshot of a running replica's progress.
type Status struct {
	View      uint32
	Op        uint64
	CommitMin uint64
	CommitMax uint64
	// Peers is the number of other replicas this one is connected to.
	Peers int
}

// Status returns the replica's progress as of its last tick. Safe to call
// from any goroutine.
func (n *Node) Status() Status {
	return Status{
		View:      n.status.view.Load(),
		Op:        n.status.op.Load(),
		CommitMin: n.status.commitMin.Load(),
		CommitMax: n.status.commitMax.Load(),
		Peers:     int(n.status.peers.Load()),
	}
}

func (n *Node) publishStatus() {
	n.status.view.Store(n.replica.View())
	n.status.op.Store(n.replica.Op())
	n.status.commitMin.Store(n.replica.CommitMin())
	n.status.commitMax.Store(n.replica.CommitMax())
	peers := uint32(0)
	for i := range n.cfg.Addresses {
		if i != int(n.replica.Index()) && n.bus.Connected(uint8(i)) {
			peers++
		}
	}
	n.status.peers.Store(peers)
	n.publishMetrics()
	n.warnDamage()
}

// warnDamage logs, at most once a second, that grid blocks of the state
// failed to read back since the last warning: a damaged data file, which
// the replica repairs from its peers (a single replica cannot: it stops
// with ErrStateDamaged once a commit needs them, checkDamage).
func (n *Node) warnDamage() {
	c := &n.replica.Counters
	seen := c.PrefetchFailed + c.ScrubDamaged + c.SyncChunkUnreadable
	if seen == n.damageSeen || time.Since(n.damageWarned) < time.Second {
		return
	}
	n.damageSeen, n.damageWarned = seen, time.Now()
	msg := "node: grid blocks of the state do not read back (a damaged data file); the replica repairs them from its peers"
	if len(n.cfg.Addresses) == 1 {
		msg = "node: grid blocks of the state do not read back (a damaged data file); a single replica has no peer to repair them from: it stops once a commit needs them"
	}
	n.log.Warn(msg, "replica", n.replica.Index(), "prefetch_failed", c.PrefetchFailed, "scrub_damaged", c.ScrubDamaged,
		"chunks_unreadable", c.SyncChunkUnreadable, "repaired", c.StableRepaired)
}

// checkDamage returns ErrStateDamaged once a single replica's commits wait
// for state that does not read back: nothing can repair it, and every
// later op waits behind it (a cluster's replica repairs it from a peer).
func (n *Node) checkDamage() error {
	if len(n.cfg.Addresses) != 1 || n.replica.Counters.PrefetchFailed == 0 {
		return nil
	}
	n.warnDamage()
	return fmt.Errorf("%w: grid blocks of the state do not read back and a single replica has no peer to repair them from (its commits would wait forever); the data file must be restored from a copy", ErrStateDamaged)
}

// Start opens the data file, recovers the replica's state from it, and binds
// the replica's address. Call Run to serve.
func Start(cfg Config) (*Node, error) {
	if cfg.TickInterval <= 0 {
		cfg.TickInterval = 10 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.StateMachine == nil {
		return nil, fmt.Errorf("%w: a state machine is required", ErrConfig)
	}
	if cfg.RedirectsPerTick < 0 {
		return nil, fmt.Errorf("%w: redirects per tick %d is negative", ErrConfig, cfg.RedirectsPerTick)
	}
	n := &Node{cfg: cfg, log: cfg.Logger, linked: make([]bool, len(cfg.Addresses))}
	n.outbox, _ = cfg.StateMachine.(*outbox.Machine)
	if err := n.open(); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

func (n *Node) open() error {
	if _, err := os.Stat(n.cfg.DataFile); err != nil {
		return fmt.Errorf("node: data file: %w (create it with chronon format)", err)
	}
	var err error
	n.file, err = cio.OpenDataFile(n.cfg.DataFile, cio.FileOptions{})
	for waited := time.Duration(0); errors.Is(err, cio.ErrLocked) && waited < listenWait; waited += 100 * time.Millisecond {
		// A replica killed a moment ago holds the lock until the kernel
		// has torn its io_uring down.
		if waited == 0 {
			n.log.Warn("node: the data file is locked; trying again", "file", n.cfg.DataFile, "for", listenWait)
		}
		time.Sleep(100 * time.Millisecond)
		n.file, err = cio.OpenDataFile(n.cfg.DataFile, cio.FileOptions{})
	}
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	size, err := n.file.Size()
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	// The journal opens on a small ring of its own: the loop's ring is
	// sized by limits the superblock holds. The storage then moves to it.
	openIO, err := cio.New(cio.Options{Entries: diskIOEntries, Backend: n.cfg.IOBackend, Logger: discardLogger})
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	defer openIO.Close()
	n.storage = journal.NewIOStorage(openIO, n.file, uint64(size), diskIOEntries)
	if n.journal, err = journal.Open(n.storage); err != nil {
		return fmt.Errorf("node: %s: %w", n.cfg.DataFile, err)
	}
	sb := n.journal.Superblock()
	if int(sb.ReplicaCount) != len(n.cfg.Addresses) {
		return fmt.Errorf("%w: data file is for %d replicas, %d addresses given", ErrConfig, sb.ReplicaCount, len(n.cfg.Addresses))
	}
	limits := persist.Limits(sb.Config, int(sb.ReplicaCount))
	if n.cfg.ConnectionsMax < 0 || n.cfg.ConnectionsMax > journal.ClientsLimit*4 {
		return fmt.Errorf("%w: connections max %d not in [0, %d]", ErrConfig, n.cfg.ConnectionsMax, journal.ClientsLimit*4)
	}
	limits.ConnectionsMax = n.cfg.ConnectionsMax
	// A checkpoint must never find the grid full: the state machine (with
	// its outbox, if any) refuses work at its capacity, which two
	// checkpoints must fit.
	sizes := journal.CheckpointSizes{State: uint64(n.cfg.StateMachine.SnapshotSizeMax()), Sessions: replica.SessionsSizeMax(limits)}
	if err := sb.Config.CheckGrid(sizes); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrConfig, n.cfg.DataFile, err)
	}
	if n.pool, err = wire.NewPool(limits.MessagesMax(), limits.MessageSizeMax); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	entries := bus.IOEntriesNeeded(int(sb.ReplicaCount), limits) + 8 + diskIOEntries
	if n.io, err = cio.New(cio.Options{Entries: entries, Backend: n.cfg.IOBackend, Logger: n.log}); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	n.storage.Rebind(n.io)
	wcfg := wire.Config{Cluster: sb.Cluster, ReplicaCount: sb.ReplicaCount, MessageSizeMax: limits.MessageSizeMax}
	idle := n.cfg.ClientIdleTimeout
	if idle <= 0 {
		idle = time.Minute
	}
	idleTicks := uint64(max(idle/n.cfg.TickInterval, 1))
	perAddress := n.cfg.ConnectionsPerAddress
	switch {
	case perAddress == 0:
		perAddress = max(limits.Connections()/2, 1)
	case perAddress < 0:
		perAddress = 0
	}
	keys := make([]bus.ClusterKey, len(n.cfg.ClusterKeys))
	for i := range keys {
		keys[i] = n.cfg.ClusterKeys[i]
	}
	if len(keys) == 0 && sb.ReplicaCount > 1 {
		n.log.Warn("node: replicas do not authenticate each other: anyone who can reach this replica's port can act as one of its peers; give every replica a cluster key (chronon start --cluster-key-file, docs/operations.md)",
			"replicas", sb.ReplicaCount)
	}
	n.bus, err = bus.New(bus.Config{
		Wire:      wcfg,
		Replica:   sb.Replica,
		Addresses: n.cfg.Addresses,
		Limits:    limits,
		Seed:      uint64(sb.Replica) + 1,
		Logger:    n.log,
		// Refused connections: at most one log line a second.
		LogIntervalTicks:      uint64(max(time.Second/n.cfg.TickInterval, 1)),
		IdleTimeoutTicks:      idleTicks,
		HandshakeTimeoutTicks: max(idleTicks/10, 1),
		ConnectionsPerAddress: perAddress,
		ClusterKeys:           keys,
		// A restart right after a kill -9 may find the port still held
		// by the killed process's io_uring for a moment.
		ListenWait: listenWait,
	}, n.io, n.pool)
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	// One fdatasync per batch under load: a batch's redundant headers go out
	// with the next batch, or on their own when none follows
	// (persist.Adapter, docs/data-file.md).
	if n.wal, err = persist.NewAdapter(n.journal, limits.PipelinePrepareMax*2+limits.JournalReadsMax); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	n.wal.Clock = time.Now
	if s, ok := n.cfg.StateMachine.(journal.StableSource); ok {
		n.wal.Stable = s
	}
	grid, gridBacked := n.cfg.StateMachine.(statemachine.GridBacked)
	gridBacked = gridBacked && !n.cfg.StateInMemory
	if gridBacked && n.journal.StableUnit() > int(limits.MessageSizeMax)-wire.HeaderSize {
		// A damaged block is repaired with one message from a peer.
		return fmt.Errorf("%w: %s: grid blocks of %d bytes do not fit a message of %d: a damaged one could not be repaired from a peer (start with --state-in-memory)",
			ErrConfig, n.cfg.DataFile, sb.Config.GridBlockSize, limits.MessageSizeMax)
	}
	if gridBacked {
		seg, _ := grid.SnapshotStable()
		n.journal.SetStableCache(int(cmp.Or(n.cfg.CacheSize, cacheSizeDefault) / int64(sb.Config.GridBlockSize)))
		grid.SetStableStore(persist.NewStableStore(n.journal, n.wal, seg))
	}
	rcfg := replica.Config{
		Cluster:            sb.Cluster,
		ReplicaCount:       sb.ReplicaCount,
		Replica:            sb.Replica,
		Limits:             limits,
		WALSlotCount:       uint64(sb.Config.SlotCount),
		CheckpointInterval: persist.CheckpointInterval(sb.Config, limits),
	}
	rcfg.DefaultTimeouts()
	rcfg.RedirectsPerTick = n.cfg.RedirectsPerTick
	if n.outbox != nil {
		above := cmp.Or(n.cfg.EffectsAdmission, admissionAboveDefault)
		if err := n.outbox.SetAdmission(max(above, 0)); err != nil {
			return fmt.Errorf("node: %w", err)
		}
		wait := cmp.Or(n.cfg.EffectsAdmissionWait, admissionWaitDefault)
		rcfg.AdmissionWaitTicks = uint64(max(wait/n.cfg.TickInterval, 1))
	}
	if gridBacked {
		rcfg.ReleaseMemory = journal.ReleaseMemory
	}
	rcfg.Seed = uint64(sb.Replica)*0x9E3779B97F4A7C15 + uint64(time.Now().UnixNano())
	rcfg.CheckpointSizeMax = uint64(sb.Config.GridBlockSize) * uint64(sb.Config.GridBlockCount)
	n.replica, err = replica.New(rcfg, n.pool, n.bus, n.wal, systemClock{}, n.cfg.StateMachine)
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	if n.outbox != nil && n.cfg.Sink != nil {
		_, batching := n.cfg.Sink.(outbox.BatchSink)
		workers := dispatchWorkersSingle
		if batching {
			workers = dispatchWorkers
		}
		workers = cmp.Or(max(n.cfg.EffectsWorkers, 0), workers)
		batch := cmp.Or(max(n.cfg.EffectsBatchMax, 0), dispatchBatchMax)
		inFlight := workers
		if batching {
			inFlight = workers * batch
		}
		inFlight = max(inFlight, dispatchInFlightMin)
		n.disp, err = outbox.NewDispatcher(outbox.DispatcherConfig{
			Sink:           n.cfg.Sink,
			Workers:        workers,
			BatchMax:       batch,
			InFlightMax:    inFlight,
			AwaitingMax:    n.outbox.Table().Config().EffectsMax,
			AckTimeout:     dispatchAckTimeoutMax,
			AckTimeoutMin:  dispatchAckTimeoutMin,
			ResultSizeMax:  n.outbox.Table().Config().ResultSizeMax,
			DueMax:         inFlight,
			AckBodySizeMax: int(replica.RequestSizeMax(uint32(n.pool.MessageSizeMax()))) - wire.HeaderSize,
			Logger:         n.log,
		})
		if err != nil {
			return fmt.Errorf("node: %w", err)
		}
		n.outbox.OnAcksCommitted(n.disp.Committed)
	}
	n.bus.SetHandler(n.replica)
	if n.recovered, err = persist.Recover(n.journal, n.replica, n.log, gridBacked); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	n.publishStatus()
	n.log.Info("node: replica started", "replica", sb.Replica, "replicas", sb.ReplicaCount,
		"port", n.bus.Port(), "io", n.io.Backend().String(), "checkpoint_op", n.recovered.CheckpointOp,
		"replayed", n.recovered.Replayed, "prepared", n.recovered.Prepared, "commit", n.replica.CommitMin(),
		"rejoining", n.recovered.Rejoining, "vote", n.recovered.Vote.String(), "withholding_vote", n.recovered.Damage.String())
	return nil
}

// Port returns the TCP port the replica listens on.
func (n *Node) Port() int { return n.bus.Port() }

// Replica exposes the replica for status and metrics. Only read it from the
// goroutine running Run, or after Run returned.
func (n *Node) Replica() *replica.Replica { return n.replica }

// Bus exposes the bus's counters (same rule as Replica).
func (n *Node) Bus() *bus.Bus { return n.bus }

// Recovery describes what Start found in the data file.
func (n *Node) Recovery() persist.RecoveryInfo { return n.recovered }

// Run serves until ctx ends, then closes the node.
func (n *Node) Run(ctx context.Context) error {
	defer n.Close()
	tick := n.cfg.TickInterval
	// The superblock's commit record costs a drain of the WAL and a
	// superblock write with its syncs, during which the loop waits: once a
	// second (prepares carry commit numbers too; docs/replica.md).
	vsrEvery := uint64(max(time.Second/tick, 1))
	next := time.Now().Add(tick)
	ticks := uint64(0)
	nextStatusLog := time.Now()
	for ctx.Err() == nil {
		wait := time.Until(next)
		if wait > 0 {
			if _, err := n.io.Wait(int64(wait)); err != nil {
				return fmt.Errorf("node: io: %w", err)
			}
		} else if err := n.io.Tick(); err != nil {
			return fmt.Errorf("node: io: %w", err)
		}
		n.settle()
		if n.disp != nil && time.Since(n.dispatched) >= dispatchInterval {
			// Between ticks too: deliveries and acks move at the loop's
			// pace, not only at the tick's.
			n.dispatch()
		}
		if !time.Now().Before(next) {
			next = next.Add(tick)
			if time.Until(next) < -10*tick {
				next = time.Now().Add(tick) // fell far behind: do not burst
			}
			ticks++
			n.reportLostPeers()
			n.replica.Tick()
			if err := n.checkDamage(); err != nil {
				return err
			}
			n.bus.Tick()
			n.settle()
			n.wal.Flush()
			n.dispatch()
			n.publishStatus()
			if ticks%vsrEvery == 0 {
				n.persistVSR()
			}
			if n.cfg.StatusLogInterval > 0 && !time.Now().Before(nextStatusLog) {
				nextStatusLog = time.Now().Add(n.cfg.StatusLogInterval)
				n.logStatus()
			}
		}
	}
	n.persistVSR()
	n.publishStatus()
	return nil
}

// reportLostPeers tells the replica about every peer connection that went
// away since the last tick (a killed peer's sockets close at once), so a
// backup suspects a dead primary sooner than its normal timeout.
func (n *Node) reportLostPeers() {
	for i := range n.linked {
		if i == int(n.replica.Index()) {
			continue
		}
		up := n.bus.Connected(uint8(i))
		if n.linked[i] && !up {
			n.log.Info("node: peer connection lost", "replica", n.replica.Index(), "peer", i,
				"view", n.replica.View(), "primary", n.replica.IsPrimary())
			n.replica.OnPeerLost(uint8(i))
		}
		n.linked[i] = up
	}
}

// logStatus logs the replica's progress as one line.
func (n *Node) logStatus() {
	s := n.Status()
	n.log.Info("node: status", "replica", n.replica.Index(), "view", s.View,
		"status", n.replica.Status().String(), "primary", n.replica.IsPrimary(),
		"op", s.Op, "commit_min", s.CommitMin, "commit_max", s.CommitMax, "peers", s.Peers,
		"rejoining", n.replica.Rejoining(), "commit_checksum", n.replica.CommitChecksum().String(),
		"digest", n.replica.StateDigest().String())
}

// settle lets the replica batch what arrived, submits the prepares it
// journaled (one batch while none is in flight), then reports journal
// completions until none are left.
func (n *Node) settle() {
	for {
		n.replica.Flush()
		n.wal.Submit()
		// Requests packed into a prepare returned their buffers to the
		// client budget: connections held back for it read again.
		resumed := n.bus.Resume()
		if !n.wal.Deliver(n.replica) && !resumed {
			return
		}
	}
}

// persistVSR records the commit number in the superblock so a restart knows
// which journaled ops are committed.
func (n *Node) persistVSR() {
	if n.closed || n.wal == nil {
		return
	}
	if err := n.wal.RecordVSR(n.replica); err != nil {
		panic(fmt.Sprintf("node: superblock write failed: %v", err))
	}
}

// The dispatcher's defaults: workers (concurrent calls to a BatchSink, and
// to a Sink taking one effect per call), effects per
// batch call of a BatchSink, the least deliveries in flight (one tick
// offers at most that many due effects), and the bounds of the adaptive
// ack timeout (the p99 of the ack commit times, times 8): a generous
// floor, since within a view an ack the replica took commits unless the
// view changes (docs/outbox.md).
const (
	dispatchWorkers       = 8
	dispatchWorkersSingle = 64
	dispatchBatchMax      = 64
	dispatchInFlightMin   = 64
	dispatchAckTimeoutMin = 5 * time.Second
	dispatchAckTimeoutMax = 30 * time.Second
	// admissionAboveDefault and admissionWaitDefault are
	// Config.EffectsAdmission's and Config.EffectsAdmissionWait's defaults.
	admissionAboveDefault = 50
	admissionWaitDefault  = 5 * time.Second
	// listenWait is how long Start waits for its listen address to be
	// free (bus.Config.ListenWait), and for its data file's lock.
	listenWait = 10 * time.Second
	// cacheSizeDefault is Config.CacheSize's default.
	cacheSizeDefault int64 = 64 << 20
	// dispatchInterval is the least time between two dispatcher steps of
	// the loop (besides every tick).
	dispatchInterval = time.Millisecond
)

// dispatch runs the outbox's dispatch policy once (outbox.Dispatcher.Step):
// it steps down on a new view and, only while this replica is the normal
// primary, offers due effects and submits the acks it has ready.
func (n *Node) dispatch() {
	if n.disp != nil {
		n.dispatched = time.Now()
		n.disp.Step(n.replica, n.outbox.Table())
	}
}

// Close releases the node's resources. Run calls it on return.
// Counters and the replica stay readable after Close.
func (n *Node) Close() {
	if n.closed {
		return
	}
	n.closed = true
	if n.disp != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = n.disp.Close(ctx)
		cancel()
	}
	if n.wal != nil {
		n.wal.Close()
	}
	if n.bus != nil {
		n.bus.Close()
	}
	if n.io != nil {
		_ = n.io.Close()
	}
	if n.file != nil {
		_ = n.file.Close()
	}
}

// diskIOEntries bounds the journal's operations in flight on the ring.
const diskIOEntries = 16

// discardLogger drops the opening ring's backend line (the loop's ring
// logs its own).
var discardLogger = slog.New(slog.DiscardHandler)

type systemClock struct{}

// Realtime implements replica.Clock.
func (systemClock) Realtime() uint64 { return uint64(time.Now().UnixNano()) }
