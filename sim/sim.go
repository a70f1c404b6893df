package sim

import (
	"fmt"
	"math/rand/v2"

	"github.com/chronon-db/chronon/replica"
	"github.com/chronon-db/chronon/wire"
)

// Sim is one simulated cluster. Build it with New, drive it with Step or
// Run. Everything happens on the caller's goroutine.
type Sim struct {
	sc      *scenario
	rng     *rand.Rand
	now     uint64
	cluster wire.Uint128
	wcfg    wire.Config

	net     *network
	hosts   []*host
	clients []*client
	stats   Stats
	trace   *trace

	chain   *chainChecker
	replies *replyChecker
	history history
	ledger  ledgerAudit
	outbox  *outboxSim

	// faultPhase is true until the liveness phase starts.
	faultPhase bool
	partition  partitionState
	pause      pauseState
	err        error
	// forged maps genuine prepare checksums to the forged ones a lying
	// network delivered instead (Options.Lie).
	forged  map[wire.Uint128]wire.Uint128
	scratch []packet

	// keepInflight: the crash being injected keeps prepare writes in
	// flight (a power loss without Options.PowerLossInFlight).
	keepInflight bool
	// forgedChunks marks the state sync chunks and manifest pages forged once
	// (LieResealSyncChunk).
	forgedChunks map[[4]uint64]bool
	// recordEvery is the period in ticks of persist's RecordVSR (the
	// node's 100 ms; scenarios stretch it).
	recordEvery uint64
	// rogue is the hostile endpoint, nil when the seed leaves it off.
	rogue *rogue
}

// New builds the cluster of o: formats and starts every replica and
// creates the clients.
func New(o Options) (*Sim, error) {
	sc, rng := newScenario(o)
	if sc.Replicas < 1 || sc.Replicas > 6 || sc.Clients < 1 {
		return nil, fmt.Errorf("sim: %d replicas and %d clients not supported", sc.Replicas, sc.Clients)
	}
	s := &Sim{sc: sc, rng: rng, cluster: wire.Uint128{Lo: 0xC1A0 + o.Seed%1000, Hi: 1}, faultPhase: true, recordEvery: 10}
	s.trace = newTrace(sc.TraceTail, &s.now)
	s.history.now = &s.now
	s.net = newNetwork(sc, rng, &s.stats, &s.now)
	s.rogue = newRogue(o)
	s.net.rogue = s.rogue
	s.chain = newChainChecker(s.cluster)
	s.replies = newReplyChecker(s.chain)
	s.outbox = newOutboxSim(o)
	if o.NoFaults {
		s.outbox.heal()
	}
	s.trace.logf("scenario seed %d: %s", o.Seed, sc)
	if s.rogue != nil {
		s.trace.logf("rogue endpoint: a burst of hostile frames with chance %.2f per tick", s.rogue.rate)
	}
	// Storage faults (bit rot, misdirection) hit at most f replicas, chosen
	// for the whole run, so every op keeps intact copies on a quorum. The
	// initial primary is among the candidates only with primary faults.
	faultyStorage := make([]bool, sc.Replicas)
	first := 1
	if sc.primaryFaultsFinal {
		first = 0
	}
	if sc.Replicas > 1 {
		for _, i := range rng.Perm(sc.Replicas - first)[:(sc.Replicas-1)/2] {
			faultyStorage[first+i] = true
		}
	}
	for i := 0; i < sc.Replicas; i++ {
		h := &host{sim: s, index: uint8(i), protected: !faultyStorage[i]}
		h.disp.init()
		if err := h.format(false); err != nil {
			return nil, err
		}
		if !h.protected && sc.Replicas > 1 {
			h.storage.misdirectWrite, h.storage.misdirectRead = sc.misdirectWrite, sc.misdirectRead
			h.storage.gridWriteFault = sc.gridWriteFault
		}
		s.hosts = append(s.hosts, h)
	}
	for _, h := range s.hosts {
		if err := h.start(); err != nil {
			return nil, err
		}
	}
	s.wcfg = s.hosts[0].wcfg
	for i := 0; i < sc.Clients; i++ {
		c := &client{sim: s, index: i, id: clientID(i, 0), op: -1, budget: -1}
		if sc.workload == WorkloadLedger {
			c.state = &ledgerClient{audit: &s.ledger}
		} else {
			c.state = &kvClient{seen: map[string]string{}}
		}
		s.clients = append(s.clients, c)
	}
	return s, nil
}

func (s *Sim) fail(err error) {
	if s.err == nil && err != nil {
		s.err = err
		s.trace.logf("FAIL %v", err)
	}
}

// primary returns the index of the replica that is primary in the highest
// view any live replica is in (view % n), and whether it is up.
func (s *Sim) primary() (int, bool) {
	view := uint32(0)
	for _, h := range s.hosts {
		if h.up {
			view = max(view, h.replica.View())
		}
	}
	p := int(view % uint32(len(s.hosts)))
	return p, s.hosts[p].up
}

func (s *Sim) clientByID(id wire.Uint128) int {
	for i, c := range s.clients {
		if c.id == id {
			return i
		}
	}
	return -1
}

// sendFromReplica puts a replica's message on the network (where a lying
// network may forge it).
func (s *Sim) sendFromReplica(h *host, to int, data []byte) {
	if s.sc.Lie == LieResealPrepare && to == 1 && s.now > 100 {
		data = s.forge(data)
	}
	if s.sc.Lie == LieResealSyncChunk {
		data = s.forgeSyncChunk(to, data)
	}
	s.net.send(int(h.index), to, data)
}

// observe lets the checkers see a replica after it ran.
func (s *Sim) observe(h *host) {
	r := h.replica
	// The replica's pool: what the replica holds, plus the message being
	// delivered (the simulator's stand-in for a bus receive buffer).
	if used := h.pool.Count() - h.pool.Free(); used > r.MessagesHeld()+1 {
		panic(fmt.Sprintf("sim: replica %d has %d pool buffers in use, holds at most %d: a leak", h.index, used, r.MessagesHeld()))
	}
	s.trace.event(uint64(h.index), r.CommitMin(), r.Op(), r.CommitChecksum().Lo)
	if r.CommitMin() > 0 {
		if err := s.chain.commit(int(h.index), r.CommitMin(), r.CommitChecksum()); err != nil {
			s.fail(err)
		}
	}
	if h.machine.violation != "" {
		s.fail(violation(InvariantExactlyOnce, "replica %d: %s", h.index, h.machine.violation))
	}
	if h.machine.fullViolation != "" {
		s.fail(violation(InvariantOutboxFull, "replica %d: %s", h.index, h.machine.fullViolation))
	}
	s.watchRepairs(h)
}

// deliver hands a packet to a replica (through its own pool buffers and
// the bus's validation) or to a client.
func (s *Sim) deliver(p packet) {
	if p.rogue {
		s.deliverRogue(p)
		return
	}
	s.stats.Messages++
	if p.orphan && (p.to >= clientBase || s.hosts[p.to].up) {
		s.stats.Faults[FaultDeliveredAfterCrash]++
	}
	if p.to >= clientBase {
		if p.corrupt {
			s.corruptChecked(p, validMessage(p.data, &s.wcfg))
			return
		}
		c := s.clients[p.to-clientBase]
		s.trace.event(uint64(p.to), uint64(len(p.data)))
		s.fail(c.onMessage(p.data))
		return
	}
	h := s.hosts[p.to]
	if !h.up || s.holdForPause(p) {
		return
	}
	m, err := h.pool.Get()
	if err != nil {
		return // a real bus stops reading until buffers free up
	}
	defer m.Unref()
	copy(m.Buffer, p.data)
	var hd wire.Header
	err = wire.DecodeHeader(m.Buffer, &hd, &h.wcfg)
	if err == nil {
		err = wire.VerifyBody(&hd, m.Buffer[wire.HeaderSize:hd.Size])
	}
	if s.corruptChecked(p, err) {
		return
	}
	if err != nil {
		s.fail(violation(InvariantWorkload, "replica %d got an invalid message from %d: %v", p.to, p.from, err))
		return
	}
	s.trace.event(uint64(p.to), uint64(hd.Command), hd.Op, hd.Checksum.Lo)
	if hd.Command == wire.CommandStartView {
		// The log the replica installs: checkLogViewOrder compares the
		// journal with it when the new log_view is made durable.
		h.startView = startViewLog{active: true, op: hd.Op, headers: m.Buffer[wire.HeaderSize:hd.Size]}
		defer func() { h.startView = startViewLog{} }()
	}
	h.call(func(r *replica.Replica) { r.OnMessage(m, &hd) })
}

// Step advances the simulation by one tick.
func (s *Sim) Step() {
	s.now++
	for i, h := range s.hosts {
		if !s.paused(i) {
			// The data file's completions (persist.Adapter's batch), then
			// those the replica is due.
			h.call(func(*replica.Replica) { h.storage.Tick() })
			h.deliverCompletions()
		}
	}
	s.scratch = s.net.due(s.scratch[:0])
	for _, p := range s.scratch {
		s.deliver(p)
	}
	clear(s.scratch)
	for i, h := range s.hosts {
		if s.paused(i) {
			continue
		}
		h.call(func(r *replica.Replica) {
			r.Flush()
			r.Tick()
		})
		if h.up {
			h.call(func(*replica.Replica) { h.wal.Flush() })
		}
		if h.up && s.now%s.recordEvery == 0 {
			if err := h.wal.RecordVSR(h.replica); err != nil {
				h.crashOnError(err)
			}
		}
	}
	if s.err == nil {
		s.outboxStep()
	}
	for _, c := range s.clients {
		c.tick()
	}
	if s.faultPhase {
		s.injectFaults()
		s.injectPause()
		s.rogueStep()
	}
	s.stats.Ticks = s.now
}

// Err returns the first invariant violation, if any.
func (s *Sim) Err() error { return s.err }

// forge rewrites a prepare into a consistent forged chain: a changed
// timestamp, the parent replaced by its forgery, checksums resealed.
func (s *Sim) forge(data []byte) []byte {
	var hd wire.Header
	hd.Decode(data)
	if hd.Command != wire.CommandPrepare || hd.Op == 0 {
		return data
	}
	if s.forged == nil {
		s.forged = map[wire.Uint128]wire.Uint128{}
		s.trace.logf("LIE: prepares to replica 1 are forged from op %d on", hd.Op)
	}
	genuine := hd.Checksum
	if p, ok := s.forged[hd.Parent]; ok {
		hd.Parent = p
	}
	hd.Timestamp++
	out := append([]byte(nil), data...)
	wire.Seal(&hd, out)
	s.forged[genuine] = hd.Checksum
	s.chain.recordPrepare(out)
	return out
}
