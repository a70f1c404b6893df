package replica

import (
	"fmt"
	"math/rand/v2"

	"github.com/chronon-db/chronon/internal/invariants"
	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// Status is a replica's VSR status.
type Status uint8

// Statuses of VR Revisited §4.
const (
	StatusNormal Status = iota
	StatusViewChange
	StatusRecovering
)

// String names the status as logs print it.
func (s Status) String() string {
	switch s {
	case StatusNormal:
		return "normal"
	case StatusViewChange:
		return "view_change"
	case StatusRecovering:
		return "recovering"
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// Replica is one VSR replica. Create it with New; drive it with OnMessage,
// OnPrepareWritten, Tick and Flush from a single event loop.
type Replica struct {
	// replyPool holds the reply slots: stored replies up to
	// Limits.ReplySlotSize, apart from the message pool.
	replyPool *wire.Pool
	cfg       Config
	wcfg      wire.Config
	pool      *wire.Pool
	bus       Bus
	journal   Journal
	clock     Clock
	sm        statemachine.StateMachine
	// grid is sm as a GridBacked machine with a store (nil otherwise);
	// prefetchStalled is set while a prepare waits for its prefetch.
	grid            statemachine.GridBacked
	prefetchStalled bool
	// stablePeer is the peer asked last for stable bytes (grid repair);
	// stableBuf holds the bytes served.
	stablePeer uint8
	stableBuf  []byte
	scrubNext  int // the scrubber's next offset in the omitted bytes
	// local is sm's local-only operations, nil if it has none.
	local statemachine.LocalOperations

	status Status
	view   uint32
	// redirectsInTick counts the redirects sent at tick redirectTick.
	redirectTick    uint64
	redirectsInTick int
	// logView is the last view in which this replica was normal (durable).
	logView   uint32
	op        uint64       // highest op in the log
	commitMin uint64       // highest op applied here
	commitMax uint64       // highest op known committed
	head      wire.Uint128 // checksum of prepare op
	// committed is the checksum of prepare commitMin (commit heartbeats
	// carry it so backups can check they committed the same op).
	committed wire.Uint128
	// timestamp is the highest timestamp assigned or seen; every event
	// gets a larger one.
	timestamp uint64
	// commitTimestamp is the last timestamp owned by the committed log (the
	// end of the last committed request's window): replicated state.
	commitTimestamp uint64

	ring     prepareRing
	future   futureRing
	requests requestQueue
	clients  clientTable
	// admission is the state machine's, if it implements
	// statemachine.Admission; held counts the queued requests it holds
	// back (admission.go).
	admission statemachine.Admission
	held      int

	tick           uint64
	lastCommitSent uint64

	// log holds the canonical headers of the log, as far as this replica
	// knows them, up to logOp (≥ op: a backup may know headers whose
	// prepares it still has to repair). A prepare is accepted only if it is
	// the op its header names, or comes from the primary of the view.
	log   headerRing
	logOp uint64
	vc    viewChange
	rng   *rand.Rand
	// lastPrimaryTick is when a backup last heard from its primary;
	// normalTimeout how long it waits before suspecting it.
	lastPrimaryTick      uint64
	normalTimeout        uint64
	lastStartViewRequest uint64
	// lost is set when the connection to the primary was lost (OnPeerLost).
	lost primaryLoss

	// knownOp is the highest op this backup knows the primary has: a
	// backup whose log is shorter asks for the missing prepares.
	knownOp uint64
	// repairTurn counts request_prepare rounds: each round asks the
	// peers in another order (repairPeer).
	repairTurn uint64
	// reads are the journal reads in flight to answer request_prepare.
	reads []pendingRead
	// writes counts the journal writes in flight (WritePrepare called,
	// OnPrepareWritten not yet): at most Limits.JournalWritesMax. The
	// journal holds their buffers, which may have left the prepare ring
	// already (committed or truncated before the write finished).
	writes int
	// cp is the latest checkpoint (served to peers by state sync), sync a
	// state sync this replica is receiving.
	cp   checkpointCopy
	sync syncState
	// damaged holds what this replica could read of its own checkpoint
	// when a block of it failed at restart (op 0: never served), the
	// basis a sync fills matching chunks from until it has a checkpoint.
	damaged checkpointCopy
	// ahead holds manifest entries of the stable prefix computed between
	// checkpoints (seal_ahead.go).
	ahead sealAhead
	// syncNoBasis: a sync whose locally filled chunks did not verify
	// failed; the next fetches every chunk.
	syncNoBasis bool
	// syncFloor is the op of this replica's own checkpoint when it could
	// not be read at restart (startWithoutCheckpoint): until it has
	// committed that far it takes no ops from the log, only a checkpoint
	// at or after it from the primary.
	syncFloor uint64
	// rejoin holds a replacement replica back from view-change votes.
	rejoin rejoinState
	// viewStartOp is the op the current view started at (the log its
	// primary installed), sent in start_view.
	viewStartOp uint64
	// logHead is the head op of the log this replica stands for at its
	// log_view, as made durable with it (VSRState.LogOp, see persistView):
	// set when log_view grows, never lowered within one log_view. A
	// replica whose log no longer reaches it (a state sync restarted the
	// log from a checkpoint below it) must not vote with that log_view.
	logHead     uint64
	logHeadView uint32
	// logAnchorOp and logAnchor name a header of that log (the highest
	// op recorded with its checksum; zero checksum: none), as made durable
	// with it (VSRState.LogAnchorOp, LogAnchor). A damaged vote sends the
	// checksum: by the hash chain it names the log up to logAnchorOp, so
	// a new primary can check that an older whole log agrees with it.
	logAnchorOp uint64
	logAnchor   wire.Uint128
	// applyContext is handed to the state machine for each request.
	applyContext statemachine.Context
	// replaying suppresses replies while replayCommitted re-applies the log.
	replaying bool
	// recovered: Recover ran (once, before any other input).
	recovered bool
	// snapshot and sessions are scratch buffers for checkpoints, grown on
	// demand (checkpoints are rare; requests never allocate).
	snapshot []byte
	sessions []byte

	// localRequest numbers this primary's local requests (SubmitLocal).
	localRequest uint32

	// Counters are the replica's metrics.
	Counters Counters
}

// New returns a replica at the root of an empty log (op 0), status normal in
// view 0. The pool must hold at least cfg.Limits.MessagesMax() messages of
// cfg.Limits.MessageSizeMax bytes; the replica never allocates after New.
func New(cfg Config, pool *wire.Pool, bus Bus, journal Journal, clock Clock, sm statemachine.StateMachine) (*Replica, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if pool == nil || bus == nil || journal == nil || clock == nil || sm == nil {
		return nil, fmt.Errorf("%w: pool, bus, journal, clock and state machine are required", ErrConfig)
	}
	if pool.MessageSizeMax() != int(cfg.Limits.MessageSizeMax) {
		return nil, fmt.Errorf("%w: pool buffers of %d bytes, config wants %d", ErrConfig, pool.MessageSizeMax(), cfg.Limits.MessageSizeMax)
	}
	replyPool, err := wire.NewPool(cfg.Limits.RepliesSmallMax(), cfg.Limits.ReplySlotSize)
	if err != nil {
		return nil, fmt.Errorf("%w: reply slots: %w", ErrConfig, err)
	}
	root := wire.RootPrepare(cfg.Cluster)
	r := &Replica{
		replyPool: replyPool,
		cfg:       cfg,
		wcfg:      cfg.wireConfig(),
		pool:      pool,
		bus:       bus,
		journal:   journal,
		clock:     clock,
		sm:        sm,
		status:    StatusNormal,
		head:      root.Checksum,
		committed: root.Checksum,
		ring:      newPrepareRing(2 * cfg.Limits.PipelinePrepareMax),
		future:    newFutureRing(2 * cfg.Limits.PipelinePrepareMax),
		requests:  newRequestQueue(cfg.Limits.RequestsQueuedMax()),
		clients:   newClientTable(cfg.Limits.ClientsMax, max(1, cfg.Limits.RepliesLarge())),
		reads:     make([]pendingRead, 0, max(cfg.Limits.JournalReadsMax, 1)),
		rng:       rand.New(rand.NewPCG(cfg.Seed, uint64(cfg.Replica)+1)),
	}
	r.admission, _ = sm.(statemachine.Admission)
	r.grid, _ = sm.(statemachine.GridBacked)
	headersMax := 4 * cfg.Limits.PipelinePrepareMax
	logHeaders := int(cfg.WALSlotCount)
	if logHeaders == 0 {
		logHeaders = logHeadersDefault
	}
	r.log = newHeaderRing(max(logHeaders, headersMax))
	r.log.put(&root)
	r.vc.dvcs = make([]dvcVote, cfg.ReplicaCount)
	for i := range r.vc.dvcs {
		r.vc.dvcs[i].headers = make([]wire.Header, 0, headersMax)
	}
	r.vc.scratch = make([]wire.Header, 0, max(headersMax, headersPerRequest))
	r.vc.body = make([]byte, 0, max(headersMax, headersPerRequest)*wire.HeaderSize)
	// The checkpoint buffer at its bound (state length, sessions length,
	// state, sessions), so checkpoints never reallocate as the state grows
	// (pages are touched only as the state reaches them).
	r.cp.blob = make([]byte, 0, 16+uint64(sm.SnapshotSizeMax())+SessionsSizeMax(cfg.Limits))
	r.cp.segments = make([]int, 0, statemachine.SegmentsMax)
	// Its manifest at the same bound: a checkpoint computes its chunk
	// checksums in place, and serving them costs nothing more.
	r.cp.manifest = make([]byte, 0, wire.SyncManifestEntrySize*r.syncChunkCount(uint64(cap(r.cp.blob))))
	r.cp.scratch = make([]byte, 0, r.syncChunkSize())
	if _, ok := sm.(statemachine.StableSnapshot); ok {
		r.ahead.sums = make([]byte, 0, cap(r.cp.manifest))
	}
	if r.grid != nil {
		r.stableBuf = make([]byte, 0, r.stableBodyMax())
	}
	r.normalTimeout = r.randomNormalTimeout()
	r.local, _ = sm.(statemachine.LocalOperations)
	// The future buffer shares the prepare ring's slots (futureRing).
	invariants.Assert(len(r.future.msgs) == len(r.ring.entries), "replica: future buffer and prepare ring of different windows")
	invariants.Assert(len(r.log.h) >= len(r.ring.entries), "replica: log ring shorter than the prepare ring")
	if root, ok := r.log.get(0); !ok || root.Checksum != r.head {
		invariants.Failf("replica: new replica's log does not start at the root prepare")
	}
	r.assertState()
	return r, nil
}

// logHeadersDefault is the number of log headers kept when the journal has
// no fixed WAL size (in-memory journals).
const logHeadersDefault = 1024

// Index returns this replica's index.
func (r *Replica) Index() uint8 { return r.cfg.Replica }

// View returns the current view.
func (r *Replica) View() uint32 { return r.view }

// LogView returns the last view in which this replica's status was normal.
func (r *Replica) LogView() uint32 { return r.logView }

// Status returns the current status.
func (r *Replica) Status() Status { return r.status }

// Op returns the highest op in this replica's log.
func (r *Replica) Op() uint64 { return r.op }

// CommitMin returns the highest op applied to the state machine here.
func (r *Replica) CommitMin() uint64 { return r.commitMin }

// CommitMax returns the highest op known to be committed.
func (r *Replica) CommitMax() uint64 { return r.commitMax }

// CommitChecksum returns the checksum of prepare CommitMin: equal on two
// replicas exactly when they committed the same hash chain up to that op.
func (r *Replica) CommitChecksum() wire.Uint128 { return r.committed }

// IsPrimary reports whether this replica is the primary of its view.
func (r *Replica) IsPrimary() bool { return r.primaryIndex() == r.cfg.Replica }

// Normal reports whether the replica's status is normal.
func (r *Replica) Normal() bool { return r.status == StatusNormal }

func (r *Replica) primaryIndex() uint8 { return uint8(r.view % uint32(r.cfg.ReplicaCount)) }

// StateDigest returns a checksum of the replicated state: the state
// machine's digest combined with the client table's. Replicas that applied
// the same ops have the same StateDigest.
func (r *Replica) StateDigest() wire.Uint128 {
	return addUint128(r.sm.Digest(), r.clients.digest())
}

// OnMessage handles one message from a peer or a client. Precondition: the
// bus produced h with wire.DecodeHeader from m's bytes for this cluster and
// verified the body with wire.VerifyBody. The replica takes its own
// references to whatever it keeps; the caller keeps (and later drops) its own.
func (r *Replica) OnMessage(m *wire.Message, h *wire.Header) {
	invariants.Assert(h.Cluster == r.cfg.Cluster && h.Size >= wire.HeaderSize && int(h.Size) <= len(m.Buffer), "replica: message not decoded for this cluster")
	if r.rejoin.probing {
		r.onMessageProbing(h)
		return
	}
	if h.View > r.view && r.cfg.ReplicaCount > 1 {
		switch h.Command {
		case wire.CommandPrepare, wire.CommandPrepareOK, wire.CommandCommit:
			// Others moved to a view this replica missed.
			r.requestStartView(h.View)
			return
		}
	}
	switch h.Command {
	case wire.CommandRequest:
		r.onRequest(m, h)
	case wire.CommandPrepare:
		r.onPrepare(m, h)
	case wire.CommandPrepareOK:
		r.onPrepareOK(h)
	case wire.CommandCommit:
		r.onCommit(h)
	case wire.CommandRequestPrepare:
		r.onRequestPrepare(h)
	case wire.CommandStartViewChange:
		r.onStartViewChange(h)
	case wire.CommandDoViewChange:
		r.onDoViewChange(h, m.Buffer[wire.HeaderSize:h.Size])
	case wire.CommandStartView:
		r.onStartView(h, m.Buffer[wire.HeaderSize:h.Size])
	case wire.CommandRequestStartView:
		r.onRequestStartView(h)
	case wire.CommandRequestHeaders:
		r.onRequestHeaders(h)
	case wire.CommandRequestSyncCheckpoint:
		r.onRequestSyncCheckpoint(h)
	case wire.CommandSyncCheckpoint:
		r.onSyncCheckpoint(h, m.Buffer[wire.HeaderSize:h.Size])
	case wire.CommandRequestSyncManifest:
		r.onRequestSyncManifest(h)
	case wire.CommandSyncManifest:
		r.onSyncManifest(h, m.Buffer[wire.HeaderSize:h.Size])
	case wire.CommandRequestStable:
		r.onRequestStable(h)
	case wire.CommandStable:
		r.onStable(h, m.Buffer[wire.HeaderSize:h.Size])
	case wire.CommandHeaders:
		r.onHeaders(h, m.Buffer[wire.HeaderSize:h.Size])
	case wire.CommandPing:
		r.onPing(h)
	case wire.CommandPong:
		// Answers to a rejoin probe that came late.
	default:
		r.Counters.DropUnexpected++
	}
	r.assertState()
}

// Tick advances the replica's logical time by one tick: retransmissions and
// heartbeats are driven from here.
func (r *Replica) Tick() {
	r.assertState()
	r.tick++
	if r.status == StatusNormal {
		r.scrub()
		r.sealAheadStep()
		if r.cp.unsealed {
			if err := r.cp.reseal(r.syncChunkSize(), r.grid); err != nil {
				r.requestStable(err)
			}
		}
	}
	if r.prefetchStalled && r.status == StatusNormal {
		// A commit waits for reads that failed: try again.
		if r.IsPrimary() {
			r.commitPipeline()
		} else {
			r.commitBackup()
		}
	}
	switch r.status {
	case StatusViewChange:
		r.tickViewChange()
		return
	case StatusRecovering:
		r.tickProbe()
		return
	}
	if !r.IsPrimary() {
		invariants.Assert(r.lastPrimaryTick <= r.tick, "replica: heard from the primary in the future")
		r.tickSync()
		r.requestMissingPrepares()
		r.tickRejoin()
		if r.cfg.ReplicaCount > 1 && (r.tick-r.lastPrimaryTick >= r.normalTimeout || r.primaryLostTimedOut()) {
			r.startViewChange(r.view + 1)
		}
		return
	}
	invariants.Assert(r.lastCommitSent <= r.tick, "replica: commit heartbeat sent in the future")
	r.resendTimedOutPrepares()
	if r.tick-r.lastCommitSent >= r.cfg.CommitTimeoutTicks {
		r.sendCommitHeartbeat()
	}
	if r.held > 0 {
		// Held requests wait AdmissionWaitTicks at most, even when no
		// commit frees room.
		r.Flush()
	}
}

// Flush turns queued requests into prepares while the pipeline has room.
// The event loop calls it after delivering a round of messages, so requests
// that arrived together share one prepare.
func (r *Replica) Flush() {
	if r.status != StatusNormal || !r.IsPrimary() {
		return
	}
	invariants.Assert(r.logView == r.view && !r.vc.installing, "replica: a normal primary not in the view it installed")
	op := r.op
	for !r.requests.empty() && r.pipelineHasRoom() {
		if !r.prepareBatch() {
			break
		}
	}
	// A view change may leave more uncommitted ops; new prepares wait.
	invariants.Assert(r.op == op || r.op-r.commitMin <= uint64(r.cfg.Limits.PipelinePrepareMax), "replica: prepared beyond the pipeline's depth")
}

// assertState checks, between inputs, the invariants that tie the
// replica's numbers and structures together: commit_min ≤ commit_max,
// commit_min ≤ op ≤ log head, log_view ≤ view, the prepare ring holds
// exactly (commit_min, op], a normal replica is in the view it installed,
// and the I/O in flight stays within its limits. With the invariants tag it
// also walks the log (checkLog).
func (r *Replica) assertState() {
	invariants.Assert(r.commitMin <= r.commitMax, "replica: commit_min above commit_max")
	invariants.Assert(r.commitMin <= r.op && r.op <= r.logOp, "replica: op outside [commit_min, log head]")
	invariants.Assert(r.logView <= r.view && r.logHeadView <= r.logView, "replica: log_view above view, or log head of a later log_view")
	invariants.Assert(r.ring.first == r.commitMin+1 && uint64(r.ring.count) == r.op-r.commitMin, "replica: prepare ring does not hold exactly (commit_min, op]")
	invariants.Assert(r.status != StatusNormal || (r.logView == r.view && !r.vc.installing), "replica: normal status outside the view it installed")
	invariants.Assert(!r.vc.installing || (r.status == StatusViewChange && r.IsPrimary()), "replica: installing a log off a primary-elect")
	invariants.Assert((r.status == StatusRecovering) == r.rejoin.probing, "replica: recovering status and rejoin probing disagree")
	invariants.Assert(r.writes >= 0 && r.writes <= r.cfg.Limits.JournalWritesMax && len(r.reads) <= cap(r.reads), "replica: journal I/O in flight out of bounds")
	invariants.Assert(r.ring.count > 0 || r.head == r.committed, "replica: empty log whose head is not the last committed op")
	invariants.Assert(!r.rejoin.damaged || r.rejoin.active, "replica: damaged votes outside rejoining")
	invariants.Assert(r.timestamp >= r.commitTimestamp, "replica: next timestamp inside the committed log's")
	if invariants.Enabled {
		r.checkLog()
	}
}

// checkLog walks the uncommitted log (tag-only): each ring entry holds its
// op's prepare, whose bytes decode as its header, chained by parent
// checksum from the last committed op to the head, and agrees with the
// canonical header the log names for its op.
func (r *Replica) checkLog() {
	if !invariants.Enabled {
		return
	}
	parent := r.committed
	for op := r.commitMin + 1; op <= r.op; op++ {
		e := r.ring.get(op)
		invariants.Assert(e != nil && e.header.Parent == parent, "replica: log does not chain from the last committed op to the head")
		var d wire.Header
		invariants.Assert(wire.DecodeHeader(e.msg.Buffer[:wire.HeaderSize], &d, &r.wcfg) == nil && d == e.header, "replica: ring entry's message is not its prepare")
		if c, ok := r.log.get(op); ok {
			invariants.Assert(c.Checksum == e.header.Checksum, "replica: ring entry is not the log's canonical op")
		}
		invariants.Assert(e.oks&(1<<r.cfg.Replica) == 0 || e.written, "replica: own ack of an unwritten prepare")
		parent = e.header.Checksum
	}
	invariants.Assert(parent == r.head, "replica: head is not the newest op's checksum")
	held := 0
	for i, m := range r.future.msgs {
		if m != nil {
			held++
			invariants.Assert(r.future.headers[i].Op%uint64(len(r.future.msgs)) == uint64(i), "replica: future buffer slot holds an op of another slot")
		}
	}
	invariants.Assert(held == r.future.count, "replica: future buffer count differs from the messages it holds")
	invariants.Assert(len(r.clients.index) == r.clients.used, "replica: client index and table of different sizes")
}

// assertPinned checks the shares of the message pool that the replica's
// prepare buffers may use (wire.Limits.MessagesMax, docs/replica.md
// "Bounds"): the prepare ring and the future buffer together hold at most
// one buffer per slot of the ring's window, and the journal at most
// JournalWritesMax writes and JournalReadsMax reads.
func (r *Replica) assertPinned() {
	if n := len(r.ring.entries); r.ring.count+r.future.count > n {
		panic(fmt.Sprintf("replica: prepare ring (%d) and future buffer (%d) hold more than the %d buffers of their window", r.ring.count, r.future.count, n))
	}
	if r.writes > r.cfg.Limits.JournalWritesMax || len(r.reads) > max(r.cfg.Limits.JournalReadsMax, 1) {
		panic(fmt.Sprintf("replica: %d journal writes and %d reads in flight (max %d and %d)", r.writes, len(r.reads), r.cfg.Limits.JournalWritesMax, r.cfg.Limits.JournalReadsMax))
	}
	invariants.Assert(r.requests.count <= len(r.requests.items) && r.clients.used <= len(r.clients.entries), "replica: requests or sessions beyond their limits")
}

// MessagesHeld returns how many pool buffers the replica holds references
// to right now, at most: its prepare ring and future buffer, the journal's
// writes and reads it started, its queued requests and the client table's
// stored replies. Between calls into the replica nothing else of its own
// holds a buffer, so a pool with more in use than this plus what the bus
// holds leaks; the simulator checks that after every call.
func (r *Replica) MessagesHeld() int {
	n := r.ring.count + r.future.count + r.writes + len(r.reads) + r.requests.count
	invariants.Assert(r.clients.used <= len(r.clients.entries), "replica: more sessions than the table holds")
	if invariants.Enabled {
		large := 0
		for i := 0; i < r.clients.used; i++ {
			if r.clients.entries[i].large {
				large++
			}
		}
		invariants.Assert(large == r.clients.large, "replica: large replies miscounted")
	}
	// Replies up to ReplySlotSize live in reply slots, not in this pool.
	return n + r.clients.large
}

// replySlot returns a reply slot (a buffer of ReplySlotSize). The slots are
// one per session, one per message queued on client connections
// (ClientSendsMax) and one being filled (Limits.RepliesSmallMax): running
// out is a bug.
func (r *Replica) replySlot() *wire.Message {
	m, err := r.replyPool.Get()
	if err != nil {
		panic(fmt.Sprintf("replica: reply slots exhausted (%d, sessions %d): a holder exceeded its share of Limits.RepliesSmallMax", r.replyPool.Count(), r.clients.used))
	}
	invariants.Assert(m.Refs() == 1 && len(m.Buffer) == int(r.cfg.Limits.ReplySlotSize), "replica: reply slot shared or of another size")
	return m
}

// newMessage gets a pool buffer, counting exhaustion as a drop.
func (r *Replica) newMessage() *wire.Message {
	m, err := r.pool.Get()
	if err != nil {
		r.Counters.DropPoolExhausted++
		return nil
	}
	invariants.Assert(m.Refs() == 1 && len(m.Buffer) == int(r.cfg.Limits.MessageSizeMax), "replica: pool buffer shared or of another size")
	return m
}

// sendHeaderOnly seals h (which must announce no body) into a fresh message
// and sends it to replica to.
func (r *Replica) sendHeaderOnly(to uint8, h *wire.Header) {
	invariants.Assert(h.Size == wire.HeaderSize && to < r.cfg.ReplicaCount, "replica: header-only message with a body, or to a replica out of range")
	m := r.newMessage()
	if m == nil {
		return
	}
	wire.Seal(h, m.Bytes(wire.HeaderSize))
	if invariants.Enabled {
		r.checkSealed(m, h)
	}
	r.bus.SendToReplica(to, m)
	m.Unref()
}

// checkSealed checks a message this replica sealed as its receiver will
// check it (the bus's DecodeHeader and VerifyBody): tag-only.
func (r *Replica) checkSealed(m *wire.Message, h *wire.Header) {
	if !invariants.Enabled {
		return
	}
	var d wire.Header
	invariants.Assert(wire.DecodeHeader(m.Bytes(h.Size), &d, &r.wcfg) == nil, "replica: sealed message does not decode")
	invariants.Assert(d == *h, "replica: sealed message decodes as another header")
	invariants.Assert(wire.VerifyBody(&d, m.Buffer[wire.HeaderSize:h.Size]) == nil, "replica: sealed message body does not verify")
}
