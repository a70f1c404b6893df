package sim

import (
	"fmt"
	"io"
	"log/slog"
	"slices"

	"github.com/chronon-db/chronon/internal/persist"
	"github.com/chronon-db/chronon/journal"
	"github.com/chronon-db/chronon/kv"
	"github.com/chronon-db/chronon/ledger"
	"github.com/chronon-db/chronon/outbox"
	"github.com/chronon-db/chronon/replica"
	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// host runs one replica the way node/ does — format, open, New, Recover —
// over simulated storage and network, and survives its crashes: the
// Replica, its pool, its WAL adapter and its in-flight I/O are dropped and
// rebuilt from the storage on restart.
type host struct {
	sim     *Sim
	index   uint8
	storage *storage
	layout  journal.Layout

	up      bool
	journal *journal.Journal
	wal     *persist.Adapter
	pool    *wire.Pool
	spare   *wire.Pool // the pool of the last life, reused at the restart
	replica *replica.Replica
	machine *machine
	kv      *kv.Store
	ledger  *ledger.Ledger
	wcfg    wire.Config

	// outbox is the replica's outbox table (new at every start, restored
	// by recovery); disp is its simulated dispatcher (outbox_dispatch.go).
	outbox *outbox.Table
	disp   dispatcher

	// completions are finished journal operations waiting for their
	// simulated storage latency.
	completions []completion
	seq         uint64
	// inflight are the prepare writes whose completions are not delivered
	// yet, in submission order (the order their completions arrive in).
	inflight []inflightWrite
	// written are the checksums of the latest prepare writes whose
	// completions the replica got (a ring; see checkAck).
	written     [64]wire.Uint128
	writtenNext int
	// lostInFlight is the lowest op the last crash lost or tore in flight
	// (0: none).
	lostInFlight uint64

	// crashWrites >= 0 arms a crash inside a write: once the storage has
	// taken that many writes, the next write or sync fails and the replica
	// dies mid-operation.
	crashWrites int
	armedAt     uint64
	downUntil   uint64
	// crashOp is the lowest op this replica may need from its peers after
	// its restart (its commit at the crash, or a corrupted op).
	crashOp uint64
	// scrubAtHeal is the replica's scrub passes when the faults healed,
	// or when its omitted stable bytes last changed since (scrubOmitted).
	scrubAtHeal  uint64
	scrubOmitted int
	// repairWatch follows the stable blocks of this instance
	// (checker_repair.go).
	repairWatch repairWatch
	// catchUp is the primary's op at the restart: until this replica
	// committed it, it counts as faulty.
	catchUp uint64
	// damaged: its storage was hit while it was down (bit rot, a lost data
	// file); withheld: its last recovery withheld its vote. Either makes a
	// restarted replica count as faulty until it caught up.
	damaged, withheld bool
	// protected replicas get no storage faults (the primary, unless
	// Options.PrimaryFaults).
	protected bool
	// superblockHit limits superblock corruption to one copy per downtime.
	superblockHit bool
	// reformat: the replica lost its data file while down; it restarts
	// from a new one formatted to rejoin.
	reformat bool
	// startView is the start_view being delivered to the replica, if any.
	startView startViewLog
}

// startViewLog is the log a start_view message gives: its head op and its
// headers (encoded, in op order).
type startViewLog struct {
	active  bool
	op      uint64
	headers []byte
}

// checksum returns the checksum the start_view names for op, if it names
// one.
func (l *startViewLog) checksum(op uint64) (wire.Uint128, bool) {
	for b := l.headers; len(b) >= wire.HeaderSize; b = b[wire.HeaderSize:] {
		var h wire.Header
		h.Decode(b)
		if h.Op == op {
			return h.Checksum, true
		}
	}
	return wire.Uint128{}, false
}

type completion struct {
	due, seq uint64
	msg      *wire.Message
	read     bool
	found    bool
}

// storageOpTicks is the latency bound of the replicas' storage
// operations (Options.StorageOpTicks).
func (s *Sim) storageOpTicks() int {
	switch {
	case s.sc.InstantStorage:
		return 0
	case s.sc.StorageOpTicks > 0:
		return s.sc.StorageOpTicks
	}
	return 2
}

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// format creates the data file (marked rejoining when it replaces a lost
// one).
func (h *host) format(rejoin bool) error {
	s := h.sim
	cfg := simJournalConfig()
	layout, err := journal.NewLayout(cfg)
	if err != nil {
		return err
	}
	h.layout = layout
	// Each storage operation completes 0 to StorageOpTicks host ticks
	// after it was submitted (Options.StorageOpTicks).
	ms := journal.NewMemoryStorage(layout.Size, s.rng.Uint64(), journal.MemoryFaults{LatencyMax: s.storageOpTicks()})
	h.storage = &storage{MemoryStorage: ms, rng: ms.Random(), stats: &s.stats, zones: []journal.Zone{layout.WALPrepare, layout.WALHeaders}}
	h.crashWrites = -1
	h.storage.onPrepareWrite, h.storage.onSync = h.capturePrepare, h.prepareWritesSynced
	h.storage.onDurable = h.durableWritten
	h.storage.gridWrite = h.gridWrite
	if err := journal.Format(h.storage, journal.FormatOptions{Config: cfg, Cluster: s.cluster, Replica: h.index, ReplicaCount: uint8(s.sc.Replicas), Rejoin: rejoin}); err != nil {
		return err
	}
	// Formatting writes in any order (the file is not in use until it
	// ends); from now on the journal's write order is checked.
	h.storage.checkWriteOrder(&h.layout, s.fail)
	return nil
}

// simRepliesLargeMax is the replicas' wire.Limits.RepliesLargeMax.
const simRepliesLargeMax = 1

// start opens the data file and recovers the replica, as node.Start does.
func (h *host) start() error {
	s := h.sim
	j, err := journal.Open(h.storage)
	if err != nil {
		return fmt.Errorf("replica %d: open: %w", h.index, err)
	}
	sb := j.Superblock()
	limits := persist.Limits(sb.Config, int(sb.ReplicaCount))
	// Fewer large replies than the test preset keeps, so the ledger
	// workload's large lookups make replicas drop some and retries meet
	// eviction(reply_dropped), across crashes, state sync and view changes.
	limits.RepliesLargeMax = simRepliesLargeMax
	pool := h.spare
	if pool != nil && pool.Count() == limits.MessagesMax() && pool.MessageSizeMax() == int(limits.MessageSizeMax) {
		// The crashed life's pool: everything that held its messages died
		// with it (allocating a new one dominated the cost of a restart).
		pool.Reset()
	} else if pool, err = wire.NewPool(limits.MessagesMax(), limits.MessageSizeMax); err != nil {
		return err
	}
	h.spare = nil
	wal, err := persist.NewAdapter(j, limits.PipelinePrepareMax*2+limits.JournalReadsMax)
	if err != nil {
		return fmt.Errorf("replica %d: %w", h.index, err)
	}
	tbl, err := outbox.NewTable(s.outboxConfig())
	if err != nil {
		return err
	}
	var sm statemachine.StateMachine
	switch s.sc.workload {
	case WorkloadLedger:
		l, err := ledger.New(ledger.Config{AccountsMax: 64, TransfersMax: 16384, BatchMax: ledger.BatchMaxFor(limits.MessageSizeMax), HashSeed: 7,
			Effects: tbl.Emitter(), EffectsTarget: outboxTarget})
		if err != nil {
			return err
		}
		h.ledger, h.kv, sm = l, nil, l
	default:
		st, err := kv.New(kv.Config{KeysMax: 64, ValueSizeMax: 64, ReplySizeLimit: kv.ReplySizeLimitFor(limits.MessageSizeMax), HashSeed: 7})
		if err != nil {
			return err
		}
		h.kv, h.ledger, sm = st, nil, st
	}
	h.machine = newMachine(sm)
	if h.ledger != nil {
		h.machine.effects = tbl
	}
	rcfg := replica.Config{
		Cluster:            sb.Cluster,
		ReplicaCount:       sb.ReplicaCount,
		Replica:            sb.Replica,
		Limits:             limits,
		WALSlotCount:       uint64(sb.Config.SlotCount),
		CheckpointInterval: persist.CheckpointInterval(sb.Config, limits),
		QuorumOverride:     s.sc.QuorumOverride,
		EagerPrepares:      s.sc.eagerPrepares(),
		SyncChunkSize:      s.sc.syncChunkSize(),
	}
	// The replica runs the product's outbox.Machine around the checked
	// machine, as node does around the ledger: acks and queries never
	// reach the inner machine.
	sm = h.machine
	if s.sc.workload == WorkloadLedger || s.sc.OutboxKV {
		m, err := outbox.NewMachine(h.machine, tbl)
		if err != nil {
			return err
		}
		m.OnAcksCommitted(h.acksCommitted)
		// Admission as node sets it (--effects-admission,
		// --effects-admission-wait): the machine's room, the replica's wait.
		if err := m.SetAdmission(s.outbox.admitAbove); err != nil {
			return err
		}
		rcfg.AdmissionWaitTicks = s.outbox.admitWaitTicks
		sm = m
	}
	rcfg.DefaultTimeouts()
	if src, ok := sm.(journal.StableSource); ok {
		wal.Stable = src
	}
	// The simulated replicas keep the ledger's transfers in the grid as
	// the product's do (node.Config.CacheSize): a small cache, so reads
	// go to the simulated disk.
	grid, gridBacked := sm.(statemachine.GridBacked)
	if gridBacked {
		seg, _ := grid.SnapshotStable()
		j.SetStableCache(4)
		h.machine.blockReads = func() uint64 {
			st := j.StableCacheStats()
			return st.Hits + st.Misses
		}
		grid.SetStableStore(persist.NewStableStore(j, wal, seg))
		rcfg.ReleaseMemory = journal.ReleaseMemory
		// A scrubber from every tick to every 16th: a damaged block is
		// found by it or by a prefetch first, and two passes over the
		// longest runs' transfers (40 blocks) fit the liveness phase.
		rcfg.ScrubTicks = 1 + (s.sc.Seed*7+uint64(h.index)*13)%16 // not from s.rng: the schedule stays the seed's
	}
	r, err := replica.New(rcfg, pool, (*hostBus)(h), (*hostJournal)(h), simClock{&s.now}, sm)
	if err != nil {
		return fmt.Errorf("replica %d: %w", h.index, err)
	}
	h.journal, h.wal, h.pool, h.replica, h.outbox = j, wal, pool, r, tbl
	h.repairWatch.reset()
	h.wcfg = wire.Config{Cluster: sb.Cluster, ReplicaCount: sb.ReplicaCount, MessageSizeMax: limits.MessageSizeMax}
	h.up = true
	info, err := persist.Recover(j, r, discard, gridBacked)
	if err != nil {
		h.up = false
		return fmt.Errorf("replica %d: recover: %w", h.index, err)
	}
	s.trace.logf("replica %d started: checkpoint %d replayed %d prepared %d commit %d status %d withholding %q",
		h.index, info.CheckpointOp, info.Replayed, info.Prepared, r.CommitMin(), r.Status(), info.Damage)
	h.withheld = info.Incomplete()
	if info.Incomplete() {
		s.stats.RestartsWithholding++
	}
	h.after()
	return nil
}

// crash kills the replica: its object, pool and in-flight I/O and messages
// are dropped; the storage loses, keeps or tears its unsynced writes.
func (h *host) crash(mode journal.CrashMode, why string) {
	s := h.sim
	if h.replica != nil {
		h.crashOp = h.replica.CommitMin()
		s.stats.addReplica(&h.replica.Counters)
	}
	s.stats.Grid.addHost(h)
	h.up = false
	h.crashedDispatcher()
	h.spare = h.pool
	h.replica, h.journal, h.wal, h.pool, h.machine, h.kv, h.ledger = nil, nil, nil, nil, nil, nil, nil
	clear(h.completions)
	h.completions = h.completions[:0]
	h.crashWrites = -1
	h.superblockHit = false
	inflightMode := mode
	if s.keepInflight {
		inflightMode = journal.CrashKeepAll
	}
	// The storage's unsynced writes are those of the adapter's batch in
	// flight (prepares and the header sectors going with them): they
	// share the in-flight prepares' fate.
	h.storage.Crash(inflightMode)
	lost := h.storage.resolveInflight(h.inflight, inflightMode)
	inflight := len(h.inflight)
	clear(h.inflight)
	h.inflight = h.inflight[:0]
	clear(h.written[:])
	h.lostInFlight = lost
	if lost > 0 {
		h.crashOp = min(h.crashOp, lost-1)
	}
	s.net.crashReplica(int(h.index))
	s.trace.logf("replica %d crashed (%s, mode %d) at commit %d with %d prepare writes in flight (lowest lost or torn: op %d)",
		h.index, why, mode, h.crashOp, inflight, lost)
	if s.sc.PeerLoss {
		// The crashed process's connections close: every live peer learns
		// it (an input without output: nothing to deliver).
		for _, o := range s.hosts {
			if o != h && o.up && o.replica != nil {
				o.replica.OnPeerLost(h.index)
				s.stats.PeerLossSignals++
			}
		}
	}
}

// call runs f against the live replica, then delivers what it produced to
// the checkers. A panic caused by the armed mid-write crash is the crash;
// any other panic is a bug and propagates.
func (h *host) call(f func(r *replica.Replica)) {
	if !h.up {
		return
	}
	armed := h.crashWrites >= 0
	defer func() {
		if p := recover(); p != nil {
			if armed && h.storage.Writes() >= h.crashWrites {
				// What the replica committed (and replied) before it died
				// is seen by the checkers: its messages are still delivered.
				h.sim.observe(h)
				h.sim.stats.Faults[FaultCrashMidWrite]++
				h.crash(journal.CrashRandom, fmt.Sprintf("inside a write: %v", p))
				return
			}
			panic(p)
		}
	}()
	f(h.replica)
	h.after()
}

// after submits the prepares the replica journaled (persist.Adapter, as
// node's loop does), hands finished journal operations to the latency
// queue and lets the checkers see the replica's commit progress.
func (h *host) after() {
	if !h.up {
		return
	}
	h.wal.Submit()
	h.wal.Deliver(h)
	h.sim.observe(h)
}

// OnPrepareWritten checks that the prepare is durable and queues the write
// completion for its simulated latency.
func (h *host) OnPrepareWritten(m *wire.Message) {
	h.checkDurable(m)
	h.queue(m, false, false)
}

// checkDurable fails the run unless the journal wrote m and its redundant
// header entry, and a sync followed both, before they were reported.
func (h *host) checkDurable(m *wire.Message) {
	var hd wire.Header
	hd.Decode(messageBytes(m))
	for i := range h.inflight {
		w := &h.inflight[i]
		if w.checksum != hd.Checksum || w.reported {
			continue
		}
		w.reported = true
		switch {
		case w.old == nil:
			h.sim.fail(violation(InvariantWriteOrder, "replica %d: prepare of op %d (%x) reported written but never written", h.index, hd.Op, hd.Checksum.Lo))
		case !w.synced:
			h.sim.fail(violation(InvariantWriteOrder, "replica %d: prepare of op %d (%x) reported written while not synced", h.index, hd.Op, hd.Checksum.Lo))
		case !w.headerSynced:
			h.sim.fail(violation(InvariantWriteOrder, "replica %d: prepare of op %d (%x) reported written before its redundant header was durable", h.index, hd.Op, hd.Checksum.Lo))
		}
		return
	}
	h.sim.fail(violation(InvariantWriteOrder, "replica %d: prepare of op %d (%x) reported written without a write", h.index, hd.Op, hd.Checksum.Lo))
}

// capturePrepare records, as the storage applies a prepare write (to is
// where misdirection sent it), where its bytes land and what they and the
// slot's redundant header entry replace, for the replica's first
// unwritten prepare with that checksum. Prepare writes of recovery have
// none.
func (h *host) capturePrepare(buf []byte, to uint64) {
	var hd wire.Header
	hd.Decode(buf)
	data := h.storage.Data()
	for i := range h.inflight {
		w := &h.inflight[i]
		if w.checksum == hd.Checksum && w.old == nil {
			w.at = to
			w.old = append([]byte(nil), data[to:to+uint64(len(buf))]...)
			w.oldHeader = append([]byte(nil), data[w.header:w.header+wire.HeaderSize]...)
			return
		}
	}
}

// prepareWritesSynced marks every prepare write applied so far durable,
// and its redundant header entry when the journal wrote it.
func (h *host) prepareWritesSynced() {
	for i := range h.inflight {
		if w := &h.inflight[i]; w.old != nil {
			w.synced = true
			if h.storage.headersWritten[h.layout.SlotOf(w.op)] == w.checksum {
				w.headerSynced = true
			}
		}
	}
}

// durableWritten marks durable what a completed WriteDurable at offset
// wrote: the prepare it holds, or the redundant header entries of its
// sector whose prepares are durable already.
func (h *host) durableWritten(buf []byte, offset uint64) {
	l := h.layout
	switch {
	case offset >= l.WALPrepare.Offset && offset < l.WALPrepare.End():
		var hd wire.Header
		hd.Decode(buf)
		for i := range h.inflight {
			if w := &h.inflight[i]; w.checksum == hd.Checksum && w.old != nil {
				w.synced = true
			}
		}
	case offset >= l.WALHeaders.Offset && offset < l.WALHeaders.End():
		for i := range h.inflight {
			w := &h.inflight[i]
			if w.old != nil && w.synced && w.header >= offset && w.header < offset+uint64(len(buf)) &&
				h.storage.headersWritten[l.SlotOf(w.op)] == w.checksum {
				w.headerSynced = true
			}
		}
	}
}

// OnPrepareRead queues a read completion for its simulated latency.
func (h *host) OnPrepareRead(m *wire.Message, found bool) { h.queue(m, true, found) }

func (h *host) queue(m *wire.Message, read, found bool) {
	s := h.sim
	lat := uint64(0)
	if s.sc.storageLatencyMax > 0 {
		lat = s.rng.Uint64N(s.sc.storageLatencyMax + 1)
	}
	h.seq++
	h.completions = append(h.completions, completion{due: s.now + lat, seq: h.seq, msg: m.Ref(), read: read, found: found})
}

// deliverCompletions hands due journal completions to the replica, oldest
// first (a write completes only after the ones submitted before it).
func (h *host) deliverCompletions() {
	for h.up && len(h.completions) > 0 {
		c := h.completions[0]
		if c.due > h.sim.now {
			// Completions are kept in submission order; a later one waits for
			// an earlier slow one, as a sequential device would.
			return
		}
		h.completions = h.completions[1:]
		if !c.read {
			// The write is durable from now on.
			h.written[h.writtenNext%len(h.written)] = h.inflight[0].checksum
			h.writtenNext++
			h.inflight[0] = inflightWrite{}
			h.inflight = h.inflight[1:]
		}
		h.call(func(r *replica.Replica) {
			if c.read {
				r.OnPrepareRead(c.msg, c.found)
			} else {
				r.OnPrepareWritten(c.msg)
			}
		})
		c.msg.Unref()
	}
}

// hostBus is the replica's Bus: messages are copied into the network.
type hostBus host

func (b *hostBus) SendToReplica(to uint8, m *wire.Message) {
	h := (*host)(b)
	if to == h.index {
		panic("sim: replica sent a message to itself")
	}
	data := messageBytes(m)
	h.checkAck(data)
	h.sim.sendFromReplica(h, int(to), data)
}

// InvariantAckNotDurable names a prepare_ok sent for a prepare whose
// journal write the replica had not been told was complete
// (replica.Journal: durable only at OnPrepareWritten).
const InvariantAckNotDurable = "ack_not_durable"

// checkAck fails the run when data is a prepare_ok for a prepare this
// replica is still writing and has neither written before nor committed.
func (h *host) checkAck(data []byte) {
	var hd wire.Header
	hd.Decode(data)
	if hd.Command != wire.CommandPrepareOK || hd.Op <= h.replica.CommitMin() || slices.Contains(h.written[:], hd.Context) {
		return
	}
	for i := range h.inflight {
		if h.inflight[i].checksum == hd.Context {
			h.sim.fail(violation(InvariantAckNotDurable, "replica %d acknowledged op %d (prepare %x) while its write was in flight",
				h.index, hd.Op, hd.Context.Lo))
			return
		}
	}
}

func (b *hostBus) SendToClient(client wire.Uint128, m *wire.Message) {
	h := (*host)(b)
	if c := h.sim.clientByID(client); c >= 0 {
		h.sim.net.send(int(h.index), clientBase+c, messageBytes(m))
	}
}

// hostJournal is the replica's Journal: persist.Adapter, with every prepare
// written recorded for the checkers.
type hostJournal host

func (j *hostJournal) WritePrepare(m *wire.Message) {
	h := (*host)(j)
	data := messageBytes(m)
	h.sim.chain.recordPrepare(data)
	var hd wire.Header
	hd.Decode(data)
	entry := h.layout.WALHeaders.Offset + uint64(h.layout.SlotOf(hd.Op))*wire.HeaderSize
	// Queued: the bytes are captured when the adapter's batch writes them.
	h.inflight = append(h.inflight, inflightWrite{op: hd.Op, checksum: hd.Checksum, header: entry})
	h.wal.WritePrepare(m)
}

func (j *hostJournal) ReadPrepare(op uint64, m *wire.Message) { (*host)(j).wal.ReadPrepare(op, m) }

func (j *hostJournal) Checkpoint(op uint64, checksum wire.Uint128, b replica.CheckpointBlobs) error {
	return (*host)(j).wal.Checkpoint(op, checksum, b)
}

func (j *hostJournal) PersistView(view, logView uint32, logOp uint64, anchor wire.Uint128, commitMin, commitMax uint64) error {
	h := (*host)(j)
	if logView > h.journal.Superblock().VSR.LogView {
		h.checkLogViewOrder(logView, logOp)
	}
	return h.wal.PersistView(view, logView, logOp, anchor, commitMin, commitMax)
}

// InvariantLogViewOrder names a log_view made durable while the journal
// still held ops of an older log beyond the new log's head: a restart
// would find them and take them for the new view's.
const InvariantLogViewOrder = "log_view_order"

// checkLogViewOrder fails the run when, as a new log_view is made
// durable, the journal holds an op above logOp that is not the new log's:
// the old log is truncated first. A backup installing a start_view keeps
// the ops of the new log it already holds (logOp is then the op the view
// started at); a new primary has repaired its log up to logOp.
func (h *host) checkLogViewOrder(logView uint32, logOp uint64) {
	for op := logOp + 1; op <= logOp+uint64(h.layout.Config.SlotCount); op++ {
		hd, ok := h.journal.Header(op)
		if !ok {
			continue
		}
		if h.startView.active && op <= h.startView.op {
			if want, named := h.startView.checksum(op); !named || want == hd.Checksum {
				continue // the new log's (ops below the headers sent are committed)
			}
		}
		h.sim.fail(violation(InvariantLogViewOrder, "replica %d made log_view %d durable with log head %d while its journal held op %d (view %d) of another log",
			h.index, logView, logOp, op, hd.View))
		return
	}
}

func (j *hostJournal) Truncate(afterOp uint64) error {
	h := (*host)(j)
	for i := range h.inflight {
		if h.inflight[i].op > afterOp {
			h.inflight[i].superseded = true
		}
	}
	return h.wal.Truncate(afterOp)
}

func (j *hostJournal) PersistRejoined() error { return (*host)(j).wal.PersistRejoined() }

// StableCovered implements replica.StableCoverage.
func (j *hostJournal) StableCovered(seg, size int) int {
	return (*host)(j).wal.StableCovered(seg, size)
}

// simClock is the primary's wall clock: simulated ticks of 10 ms.
type simClock struct{ now *uint64 }

func (c simClock) Realtime() uint64 { return 1_700_000_000_000_000_000 + *c.now*10_000_000 }

// gridWrite decides the fate of a write at offset (n bytes) while grid
// write faults are on (storage.gridWriteFault): a grid block written
// ahead of the next checkpoint (journal.Prewritten) is, at that chance,
// lost (its address keeps what it held) or misdirected to another block
// of the stable prefix, held or written ahead (that block's bytes are
// replaced, the intended one keeps its old bytes). Both damage only
// stable blocks, which every peer holds: a read or the scrubber finds
// them and the replica repairs them (request_stable).
func (h *host) gridWrite(offset uint64, n int) (uint64, bool) {
	s, st, j := h.sim, h.storage, h.journal
	z := h.layout.Grid
	bs := uint64(h.layout.Config.GridBlockSize)
	if j == nil || !h.up || offset < z.Offset || offset >= z.End() || (offset-z.Offset)%bs != 0 {
		return offset, false
	}
	a := (offset-z.Offset)/bs + 1
	if !j.Prewritten(a) || st.rng.Float64() >= st.gridWriteFault {
		return offset, false
	}
	if st.rng.IntN(2) == 0 {
		h.repairWatch.damaged(a)
		s.stats.Faults[FaultGridWriteLost]++
		s.trace.logf("replica %d: the write of grid block %d (written ahead) is lost", h.index, a)
		return offset, true
	}
	var targets []uint64
	for b := uint64(1); b <= uint64(h.layout.Config.GridBlockCount); b++ {
		if b != a && j.Prewritten(b) {
			targets = append(targets, b)
		}
	}
	_, held := j.StableHeld()
	for k := range held / j.StableUnit() {
		if b := j.StableBlockAddress(k); b != 0 && b != a {
			targets = append(targets, b)
		}
	}
	if len(targets) == 0 {
		return offset, false
	}
	b := targets[st.rng.IntN(len(targets))]
	h.repairWatch.damaged(a)
	h.repairWatch.damaged(b)
	s.stats.Faults[FaultGridWriteMisdirected]++
	s.trace.logf("replica %d: the write of grid block %d (written ahead) lands on block %d", h.index, a, b)
	return h.layout.BlockOffset(b), false
}
