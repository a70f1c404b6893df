package replica

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/chronon-db/chronon/wire"
)

// This file is a small deterministic in-memory cluster: replicas, a lossy
// reordering network, journals that complete writes after a delay, and
// clients that retry. It remains for tests that set a replica's internal
// state directly (votes, sessions, offers, forged messages) or inspect it;
// behaviours are scenario files run on the simulator's real components
// (sim/testdata/scenarios, docs/simulator.md).

// packet is a message in flight: bytes copied at send time, as over TCP.
type packet struct {
	from      int // replica index, -1 for a client
	toReplica int // -1: to a client
	toClient  wire.Uint128
	data      []byte
	due       uint64
}

type network struct {
	rng       *rand.Rand
	packets   []packet
	now       uint64
	lossPct   int
	dupPct    int
	delayMax  uint64
	delivered int
	// isolated is a replica partitioned from the other replicas (-1: none).
	isolated int
}

func (n *network) send(p packet) {
	if n.rng.IntN(100) < n.lossPct {
		return
	}
	if n.isolated >= 0 && p.from >= 0 && p.toReplica >= 0 && (p.from == n.isolated) != (p.toReplica == n.isolated) {
		return // the isolated replica is cut off from the other replicas
	}
	copies := 1
	if n.rng.IntN(100) < n.dupPct {
		copies = 2
	}
	for range copies {
		p.due = n.now + 1 + n.rng.Uint64N(n.delayMax+1)
		n.packets = append(n.packets, p)
	}
}

type replicaBus struct {
	net  *network
	from uint8
}

func (b *replicaBus) SendToReplica(to uint8, m *wire.Message) {
	if to == b.from {
		panic("replica sent a message to itself")
	}
	b.net.send(packet{from: int(b.from), toReplica: int(to), data: append([]byte(nil), messageBytes(m)...)})
}

func (b *replicaBus) SendToClient(client wire.Uint128, m *wire.Message) {
	b.net.send(packet{from: int(b.from), toReplica: -1, toClient: client, data: append([]byte(nil), messageBytes(m)...)})
}

func messageBytes(m *wire.Message) []byte {
	var h wire.Header
	h.Decode(m.Buffer)
	return m.Bytes(h.Size)
}

// memJournal completes each write after a random number of steps and keeps
// every durable prepare for reads.
type memJournal struct {
	rng     *rand.Rand
	pending []*wire.Message
	due     []uint64
	now     *uint64
	written map[uint64]wire.Uint128 // op -> checksum of the durable prepare
	stored  map[uint64][]byte       // op -> prepare bytes
	reads   []journalRead
	// checkpoints are every checkpoint taken, oldest first.
	checkpoints []memCheckpoint
	// view, logView and commitMax are the durable VSR state.
	view, logView uint32
	commitMax     uint64
	// window, when non-zero, is the number of WAL slots: only the latest
	// window ops can be read back.
	window uint64
	// rejoined counts PersistRejoined calls.
	rejoined int
	// logOp is the log head recorded with logView (see PersistView).
	logOp uint64
	// anchorOp and anchor are VSRState.LogAnchorOp and LogAnchor.
	anchorOp uint64
	anchor   wire.Uint128
}

type journalRead struct {
	op  uint64
	msg *wire.Message
	due uint64
}

// memCheckpoint is a checkpoint the in-memory journal keeps.
type memCheckpoint struct {
	op       uint64
	checksum wire.Uint128
	state    []byte
	sessions []byte
}

func (j *memJournal) Checkpoint(op uint64, checksum wire.Uint128, b CheckpointBlobs) error {
	j.checkpoints = append(j.checkpoints, memCheckpoint{op, checksum, append([]byte(nil), b.State...), append([]byte(nil), b.Sessions...)})
	return nil
}

func (j *memJournal) PersistView(view, logView uint32, logOp uint64, anchor wire.Uint128, commitMin, commitMax uint64) error {
	if view < j.view || logView < j.logView {
		panic("memJournal: view moved back")
	}
	if logView > j.logView {
		j.logOp = logOp
		j.anchorOp, j.anchor = 0, wire.Uint128{}
	} else {
		j.logOp = max(j.logOp, logOp)
	}
	if !anchor.IsZero() && (j.anchor.IsZero() || logOp >= j.anchorOp) {
		j.anchorOp, j.anchor = logOp, anchor
	}
	j.view, j.logView, j.commitMax = view, logView, max(j.commitMax, commitMax)
	return nil
}

func (j *memJournal) PersistRejoined() error {
	j.rejoined++
	return nil
}

func (j *memJournal) Truncate(afterOp uint64) error {
	for op := range j.stored {
		if op > afterOp {
			delete(j.stored, op)
			delete(j.written, op)
		}
	}
	return nil
}

func (j *memJournal) ReadPrepare(op uint64, m *wire.Message) {
	j.reads = append(j.reads, journalRead{op: op, msg: m.Ref(), due: *j.now + 1})
}

func (j *memJournal) WritePrepare(m *wire.Message) {
	j.pending = append(j.pending, m.Ref())
	j.due = append(j.due, *j.now+j.rng.Uint64N(3))
}

type testClock struct{ now *uint64 }

func (c testClock) Realtime() uint64 { return 1_700_000_000_000_000_000 + *c.now*1000 }

// testClient registers, then sends count adds of 1 one at a time, retrying
// the same bytes on a timeout.
type testClient struct {
	id        wire.Uint128
	session   uint64
	request   uint32
	count     uint32
	lastReply wire.Uint128
	pending   []byte
	sentAt    uint64
	replies   uint32
	total     uint64
	done      bool
	view      uint32
}

type cluster struct {
	t        testing.TB
	cfg      Config
	net      *network
	replicas []*Replica
	pools    []*wire.Pool
	journals []*memJournal
	machines []*counterMachine
	clients  []*testClient
	rng      *rand.Rand
	// retryTicks is how long a client waits before resending.
	retryTicks uint64
	// captured holds messages to clients the harness does not drive.
	captured []packet
	// down marks crashed replicas: they receive nothing and do not run.
	down map[int]bool
}

func newCluster(t testing.TB, seed uint64, replicaCount uint8, clients int, requests uint32) *cluster {
	rng := rand.New(rand.NewPCG(seed, seed^0x9E3779B97F4A7C15))
	c := &cluster{
		t:          t,
		net:        &network{rng: rng, delayMax: 2, isolated: -1},
		rng:        rng,
		retryTicks: 40,
		down:       map[int]bool{},
	}
	for i := uint8(0); i < replicaCount; i++ {
		cfg := Config{Cluster: wire.Uint128{Lo: 77}, ReplicaCount: replicaCount, Replica: i, Limits: wire.LimitsTest, Seed: seed}
		cfg.Limits.ReplicaCount = int(replicaCount)
		cfg.Limits.ClientsMax = max(clients, 4)
		cfg.DefaultTimeouts()
		c.cfg = cfg
		pool, err := wire.NewPool(cfg.Limits.MessagesMax(), cfg.Limits.MessageSizeMax)
		if err != nil {
			t.Fatal(err)
		}
		j := &memJournal{rng: rng, now: &c.net.now, written: map[uint64]wire.Uint128{}, stored: map[uint64][]byte{}}
		sm := newCounterMachine()
		r, err := New(cfg, pool, &replicaBus{net: c.net, from: i}, j, testClock{&c.net.now}, sm)
		if err != nil {
			t.Fatal(err)
		}
		c.replicas = append(c.replicas, r)
		c.pools = append(c.pools, pool)
		c.journals = append(c.journals, j)
		c.machines = append(c.machines, sm)
	}
	for i := 0; i < clients; i++ {
		c.clients = append(c.clients, &testClient{id: wire.Uint128{Lo: uint64(1000 + i), Hi: 5}, count: requests})
	}
	return c
}

func (c *cluster) primary() *Replica { return c.replicas[0] }

// step advances the cluster by one tick: writes complete, packets are
// delivered, replicas flush and tick, clients send or retry.
func (c *cluster) step() {
	c.net.now++
	now := c.net.now
	for i, j := range c.journals {
		if c.down[i] {
			continue
		}
		// A completion may start new writes (a primary's next prepare, a
		// backup's buffered one): they go to fresh slices, after the writes
		// still waiting.
		pending, due := j.pending, j.due
		j.pending, j.due = nil, nil
		var keepPending []*wire.Message
		var keepDue []uint64
		for k, m := range pending {
			if due[k] <= now {
				var h wire.Header
				h.Decode(m.Buffer)
				j.written[h.Op] = h.Checksum
				j.stored[h.Op] = append([]byte(nil), m.Bytes(h.Size)...)
				if j.window > 0 && h.Op > j.window {
					// A WAL of window slots: older ops are overwritten.
					delete(j.stored, h.Op-j.window)
				}
				c.replicas[i].OnPrepareWritten(m)
				m.Unref()
				continue
			}
			keepPending, keepDue = append(keepPending, m), append(keepDue, due[k])
		}
		j.pending, j.due = append(keepPending, j.pending...), append(keepDue, j.due...)
		reads := j.reads
		j.reads = nil
		for _, rd := range reads {
			if rd.due > now {
				j.reads = append(j.reads, rd)
				continue
			}
			data, ok := j.stored[rd.op]
			copy(rd.msg.Buffer, data)
			c.replicas[i].OnPrepareRead(rd.msg, ok)
			rd.msg.Unref()
		}
	}
	// Deliver due packets in a seeded random order.
	var due []packet
	keep := 0
	for _, p := range c.net.packets {
		if p.due <= now {
			due = append(due, p)
		} else {
			c.net.packets[keep] = p
			keep++
		}
	}
	c.net.packets = c.net.packets[:keep]
	c.rng.Shuffle(len(due), func(a, b int) { due[a], due[b] = due[b], due[a] })
	for _, p := range due {
		c.net.delivered++
		if p.toReplica < 0 {
			c.deliverToClient(p)
			continue
		}
		c.deliverToReplica(p.toReplica, p.data)
	}
	for i, r := range c.replicas {
		if c.down[i] {
			continue
		}
		r.Flush()
		r.Tick()
	}
	for _, cl := range c.clients {
		c.driveClient(cl)
	}
}

func (c *cluster) deliverToReplica(i int, data []byte) {
	if c.down[i] {
		return
	}
	r := c.replicas[i]
	m, err := c.pools[i].Get()
	if err != nil {
		return // a real bus would stop reading from the connection
	}
	defer m.Unref()
	copy(m.Buffer, data)
	var h wire.Header
	if err := wire.DecodeHeader(m.Buffer, &h, &r.wcfg); err != nil {
		c.t.Fatalf("replica %d got an invalid header: %v", i, err)
	}
	if err := wire.VerifyBody(&h, m.Buffer[wire.HeaderSize:h.Size]); err != nil {
		c.t.Fatalf("replica %d got an invalid body: %v", i, err)
	}
	r.OnMessage(m, &h)
}

func (c *cluster) deliverToClient(p packet) {
	var cl *testClient
	for _, x := range c.clients {
		if x.id == p.toClient {
			cl = x
		}
	}
	if cl == nil {
		c.captured = append(c.captured, p)
		return
	}
	var h wire.Header
	if err := wire.DecodeHeader(p.data, &h, &c.replicas[0].wcfg); err != nil {
		c.t.Fatalf("client got an invalid header: %v", err)
	}
	if h.Command == wire.CommandEviction {
		c.t.Fatalf("client %v evicted (reason %d)", cl.id, h.Reason)
	}
	if h.Command != wire.CommandReply || cl.pending == nil {
		return
	}
	cl.view = max(cl.view, h.View)
	var req wire.Header
	req.Decode(cl.pending)
	if h.Context != req.Checksum {
		return // a duplicate reply to an earlier request
	}
	if req.Operation == wire.OperationRegister {
		cl.session = h.Session
	} else {
		cl.replies++
		total := binary.LittleEndian.Uint64(p.data[wire.HeaderSize:])
		if total != cl.total+1 {
			c.t.Fatalf("client %v request %d: total %d, want %d (executed twice or lost)", cl.id, req.Request, total, cl.total+1)
		}
		cl.total = total
	}
	cl.lastReply = h.Checksum
	cl.pending = nil
}

func (c *cluster) driveClient(cl *testClient) {
	now := c.net.now
	if cl.pending != nil {
		if now-cl.sentAt >= c.retryTicks {
			// After a timeout the client does not know the primary: all.
			cl.sentAt = now
			for i := range c.replicas {
				c.net.send(packet{from: -1, toReplica: i, data: cl.pending})
			}
		}
		return
	}
	if cl.session != 0 && cl.request == cl.count {
		cl.done = true
		return
	}
	h := wire.Header{
		Cluster:  c.cfg.Cluster,
		Size:     wire.HeaderSize,
		Protocol: wire.ProtocolVersion,
		Command:  wire.CommandRequest,
		Client:   cl.id,
	}
	var body []byte
	if cl.session == 0 {
		h.Operation = wire.OperationRegister
	} else {
		cl.request++
		h.Operation = opAdd
		h.Session = cl.session
		h.Request = cl.request
		h.Parent = cl.lastReply
		body = binary.LittleEndian.AppendUint64(nil, 1)
		h.Size += uint32(len(body))
	}
	msg := make([]byte, h.Size)
	copy(msg[wire.HeaderSize:], body)
	wire.Seal(&h, msg)
	cl.pending, cl.sentAt = msg, now
	c.net.send(packet{from: -1, toReplica: int(cl.view) % len(c.replicas), data: msg})
}

// run steps until every client is done and every replica has applied
// everything, or fails after maxSteps.
func (c *cluster) run(maxSteps int) {
	for s := 0; s < maxSteps; s++ {
		c.step()
		if c.settled() {
			return
		}
	}
	c.t.Fatalf("cluster did not settle in %d steps: %s", maxSteps, c.describe())
}

func (c *cluster) settled() bool {
	for _, cl := range c.clients {
		if !cl.done {
			return false
		}
	}
	var p *Replica
	for i, r := range c.replicas {
		if c.down[i] {
			continue
		}
		if p == nil {
			p = r
		}
		if r.CommitMin() != p.CommitMin() || r.Op() != p.Op() {
			return false
		}
	}
	return true
}

func (c *cluster) describe() string {
	s := ""
	for _, r := range c.replicas {
		s += fmt.Sprintf("[replica %d view %d/%d status %d op %d commit %d/%d %+v]\n", r.Index(), r.View(), r.LogView(), r.Status(), r.Op(), r.CommitMin(), r.CommitMax(), r.Counters)
	}
	done := 0
	for _, cl := range c.clients {
		if cl.done {
			done++
		}
	}
	return s + fmt.Sprintf("clients done %d/%d", done, len(c.clients))
}

// checkConverged asserts the normal-path safety properties at the end of a
// run: one hash chain, one state, each request executed exactly once.
func (c *cluster) checkConverged() {
	c.t.Helper()
	p := c.primary()
	for i, r := range c.replicas {
		if r.CommitChecksum() != p.CommitChecksum() || r.CommitMin() != p.CommitMin() {
			c.t.Fatalf("replica %d committed chain differs: op %d %v vs %d %v", i, r.CommitMin(), r.CommitChecksum(), p.CommitMin(), p.CommitChecksum())
		}
		if r.StateDigest() != p.StateDigest() {
			c.t.Fatalf("replica %d state digest %v differs from primary's %v", i, r.StateDigest(), p.StateDigest())
		}
		for op, sum := range c.journals[i].written {
			if other, ok := c.journals[0].written[op]; ok && other != sum {
				c.t.Fatalf("replica %d journaled op %d with checksum %v, primary %v", i, op, sum, other)
			}
		}
		for key, n := range c.machines[i].applied {
			if n != 1 {
				c.t.Fatalf("replica %d applied client %d request %d %d times", i, key[0], key[1], n)
			}
		}
		for _, cl := range c.clients {
			if got := c.machines[i].totals[cl.id]; got != uint64(cl.count) {
				c.t.Fatalf("replica %d total of client %v is %d, want %d", i, cl.id, got, cl.count)
			}
		}
	}
}

// dropPackets removes in-flight packets for which drop returns true.
func (c *cluster) dropPackets(drop func(p *packet, h *wire.Header) bool) {
	keep := c.net.packets[:0]
	for i := range c.net.packets {
		p := &c.net.packets[i]
		var h wire.Header
		h.Decode(p.data)
		if drop(p, &h) {
			continue
		}
		keep = append(keep, *p)
	}
	c.net.packets = keep
}

// restartDamaged restarts replica i after the durable prepares of ops
// rotted under their intact redundant headers, as Recover does it:
// the journal names each op (its header survives) but cannot provide it.
// It returns the rotted ops' headers.
func (c *cluster) restartDamaged(t *testing.T, i int, ops ...uint64) []wire.Header {
	t.Helper()
	j := c.journals[i]
	hs := make([]wire.Header, len(ops))
	for n, k := range ops {
		hs[n].Decode(j.stored[k])
		delete(j.stored, k)
		delete(j.written, k)
	}
	bound := j.logOp
	for op := range j.stored {
		bound = max(bound, op)
	}
	for _, k := range ops {
		bound = max(bound, k)
	}
	c.restartLikeRecover(t, i, j.commitMax)
	r := c.replicas[i]
	if r.Rejoining() {
		// Damaged already: its journal ends below the recorded log head.
		if !r.rejoin.damaged {
			t.Fatalf("replica %d: withholding", i)
		}
		r.rejoin.maybeAcked = max(r.rejoin.maybeAcked, bound)
		return hs
	}
	r.voteDamagedUntilCaughtUp(bound, j.commitMax)
	return hs
}

// restartLikeRecover restarts replica i as Recover does: replay up
// to the recorded commit number, load the following journaled ops as
// prepared while they fit, and withhold votes when the journal holds more
// than was loaded (r.Op() < OpMax).
func (c *cluster) restartLikeRecover(t *testing.T, i int, commitMax uint64) {
	t.Helper()
	// As Recover: the journal's prepares carry their primary's
	// commit number, which beats the recorded one.
	for _, data := range c.journals[i].stored {
		var h wire.Header
		h.Decode(data)
		commitMax = max(commitMax, h.Commit)
	}
	if err := c.restartReplica(i, commitMax); err != nil {
		t.Fatal(err)
	}
	r, j := c.replicas[i], c.journals[i]
	var opMax uint64
	for op := range j.stored {
		opMax = max(opMax, op)
	}
	for op := r.Op() + 1; op <= opMax; op++ {
		data, ok := j.stored[op]
		if !ok {
			break
		}
		m, _ := c.pools[i].Get()
		copy(m.Buffer, data)
		var h wire.Header
		if err := wire.DecodeHeader(m.Buffer, &h, &r.wcfg); err != nil {
			t.Fatal(err)
		}
		err := r.replayPrepared(m, &h)
		m.Unref()
		if err != nil {
			t.Fatalf("replica %d: op %d beyond what its prepare ring holds: %v", i, op, err)
		}
	}
	// Intact ops it had no room to load do not make it withhold (the
	// journal's own damage would; restartReplica checks the log head).
}

// moreRequests gives every client n more requests to send.
func (c *cluster) moreRequests(n uint32) {
	for _, cl := range c.clients {
		cl.count += n
		cl.done = false
	}
}

func (c *cluster) clientsDone() bool {
	for _, cl := range c.clients {
		if !cl.done {
			return false
		}
	}
	return true
}

// noPreparesTo is a packet filter dropping prepares to the given replicas.
func noPreparesTo(who ...int) func(p *packet, h *wire.Header) bool {
	return func(p *packet, h *wire.Header) bool {
		for _, w := range who {
			if p.toReplica == w && h.Command == wire.CommandPrepare {
				return true
			}
		}
		return false
	}
}

// primaryAbove steps the cluster (dropping what drop matches, if not nil)
// at most ticks times, until a replica is primary with status normal in a
// view above v, and returns its index; -1 if none got there.
func (c *cluster) primaryAbove(v uint32, ticks int, drop func(p *packet, h *wire.Header) bool) int {
	for s := 0; s < ticks; s++ {
		c.step()
		if drop != nil {
			c.dropPackets(drop)
		}
		for i, r := range c.replicas {
			if !c.down[i] && r.Status() == StatusNormal && r.IsPrimary() && r.View() > v {
				return i
			}
		}
	}
	return -1
}

// restartReplica replaces replica i by a new one recovered the way a real
// restart recovers: from its journal's latest checkpoint, then replaying the
// journaled ops up to commitMax (the commit number its superblock recorded).
func (c *cluster) restartReplica(i int, commitMax uint64) error {
	old := c.replicas[i]
	j := c.journals[i]
	j.pending, j.due, j.reads = nil, nil, nil
	pool, err := wire.NewPool(old.cfg.Limits.MessagesMax(), old.cfg.Limits.MessageSizeMax)
	if err != nil {
		return err
	}
	sm := newCounterMachine()
	r, err := New(old.cfg, pool, &replicaBus{net: c.net, from: uint8(i)}, j, testClock{&c.net.now}, sm)
	if err != nil {
		return err
	}
	r.restoreView(j.view, j.logView)
	r.restoreLogHead(j.logOp, j.anchorOp, j.anchor)
	if n := len(j.checkpoints); n > 0 {
		cp := j.checkpoints[n-1]
		if err := r.restore(cp.op, cp.checksum, CheckpointBlobs{State: cp.state, Sessions: cp.sessions}); err != nil {
			return err
		}
	}
	for op := r.CommitMin() + 1; op <= commitMax; op++ {
		data, ok := j.stored[op]
		if !ok {
			break
		}
		m, _ := pool.Get()
		copy(m.Buffer, data)
		var h wire.Header
		if err := wire.DecodeHeader(m.Buffer, &h, &r.wcfg); err != nil {
			return err
		}
		err := r.replayCommitted(m, &h)
		m.Unref()
		if err != nil {
			return err
		}
	}
	c.replicas[i], c.pools[i], c.machines[i] = r, pool, sm
	r.startAfterRestart()
	// As Recover: a journal that ends below the log head recorded
	// with log_view lacks ops the replica stood for; that damage is
	// bounded by the log head (damaged votes).
	var opMax uint64
	for op := range j.stored {
		opMax = max(opMax, op)
	}
	if opMax < j.logOp {
		r.voteDamagedUntilCaughtUp(j.logOp, commitMax)
	}
	return nil
}
