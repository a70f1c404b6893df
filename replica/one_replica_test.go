package replica

import (
	"cmp"
	"encoding/binary"
	"math"
	"slices"
	"testing"

	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// This file builds ONE replica for unit tests of its reaction to inputs:
// a Bus that records what it sends, a Journal that completes writes when
// the test says so, a fixed clock. There is no network and no second
// replica: behaviours of a cluster are scenario files run on the
// simulator's real components (sim/testdata/scenarios, docs/simulator.md).

const opAdd = wire.OperationUserMin

// opLocal is counterMachine's local-only operation (local_test.go): it
// counts its applications and changes the digest.
const opLocal = wire.OperationUserMin + 1

// counterMachine is a test state machine: opAdd adds a u64 to a per-client
// total and replies with the new total. It records every application so
// tests can check exactly-once execution.
type counterMachine struct {
	totals  map[wire.Uint128]uint64
	applied map[[2]uint64]int // (client.Lo, request) -> times applied
	digest  wire.Uint128
	// local counts applied opLocal requests, localClient those that came
	// from statemachine.LocalClient.
	local, localClient int
	// snapshotMax, when not 0, is SnapshotSizeMax (the bound of the
	// replica's checkpoint buffer).
	snapshotMax int
}

// LocalOnly implements statemachine.LocalOperations.
func (c *counterMachine) LocalOnly(op wire.Operation) bool { return op == opLocal }

func newCounterMachine() *counterMachine {
	return &counterMachine{totals: map[wire.Uint128]uint64{}, applied: map[[2]uint64]int{}}
}

func (c *counterMachine) Validate(op wire.Operation, input []byte) error {
	if op != opAdd || len(input) != 8 {
		return statemachine.ErrInvalidInput
	}
	return nil
}

func (c *counterMachine) Apply(ctx *statemachine.Context, op wire.Operation, input, reply []byte) int {
	if op == opLocal {
		c.local++
		if ctx.Client == statemachine.LocalClient {
			c.localClient++
		}
		c.digest = addUint128(c.digest, wire.Checksum(input))
		return 0
	}
	if c.Validate(op, input) != nil {
		return 0
	}
	c.applied[[2]uint64{ctx.Client.Lo, uint64(ctx.Request)}]++
	c.totals[ctx.Client] += binary.LittleEndian.Uint64(input)
	var b [40]byte
	binary.LittleEndian.PutUint64(b[0:], ctx.Client.Lo)
	binary.LittleEndian.PutUint64(b[8:], uint64(ctx.Request))
	binary.LittleEndian.PutUint64(b[16:], binary.LittleEndian.Uint64(input))
	binary.LittleEndian.PutUint64(b[24:], ctx.Timestamp)
	binary.LittleEndian.PutUint64(b[32:], ctx.Op)
	c.digest = addUint128(c.digest, wire.Checksum(b[:]))
	binary.LittleEndian.PutUint64(reply, c.totals[ctx.Client])
	if binary.LittleEndian.Uint64(input)&bigReply != 0 && len(reply) >= bigReplySize {
		// A reply above the test preset's reply slot (reply_test.go).
		clear(reply[8:bigReplySize])
		return bigReplySize
	}
	return 8
}

// An add with bigReply set is answered with bigReplySize bytes: a large
// reply (above Limits.ReplySlotSize).
const (
	bigReply     = uint64(1) << 40
	bigReplySize = 5000
)

func (c *counterMachine) ReplySizeMax(wire.Operation, int) int { return 8 }
func (c *counterMachine) Digest() wire.Uint128                 { return c.digest }

// SnapshotSizeMax is a nominal bound: the counter's records grow with
// every request, and replica tests check no grid against it.
func (c *counterMachine) SnapshotSizeMax() int {
	if c.snapshotMax > 0 {
		return c.snapshotMax
	}
	return math.MaxInt32
}

// Snapshot encodes digest, totals and application counts, sorted by key.
func (c *counterMachine) Snapshot(dst []byte) []byte {
	dst = binary.LittleEndian.AppendUint64(dst, c.digest.Lo)
	dst = binary.LittleEndian.AppendUint64(dst, c.digest.Hi)
	ids := make([]wire.Uint128, 0, len(c.totals))
	for id := range c.totals {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, wire.Uint128.Compare)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(len(ids)))
	for _, id := range ids {
		dst = binary.LittleEndian.AppendUint64(dst, id.Lo)
		dst = binary.LittleEndian.AppendUint64(dst, id.Hi)
		dst = binary.LittleEndian.AppendUint64(dst, c.totals[id])
	}
	keys := make([][2]uint64, 0, len(c.applied))
	for k := range c.applied {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [2]uint64) int { return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1])) })
	dst = binary.LittleEndian.AppendUint64(dst, uint64(len(keys)))
	for _, k := range keys {
		dst = binary.LittleEndian.AppendUint64(dst, k[0])
		dst = binary.LittleEndian.AppendUint64(dst, k[1])
		dst = binary.LittleEndian.AppendUint64(dst, uint64(c.applied[k]))
	}
	return dst
}

func (c *counterMachine) Restore(b []byte) error {
	le := binary.LittleEndian
	next := func() uint64 { v := le.Uint64(b); b = b[8:]; return v }
	c.totals, c.applied = map[wire.Uint128]uint64{}, map[[2]uint64]int{}
	if len(b) == 0 {
		c.digest = wire.Uint128{}
		return nil
	}
	c.digest = wire.Uint128{Lo: next(), Hi: next()}
	for n := next(); n > 0; n-- {
		id := wire.Uint128{Lo: next(), Hi: next()}
		c.totals[id] = next()
	}
	for n := next(); n > 0; n-- {
		k := [2]uint64{next(), next()}
		c.applied[k] = int(next())
	}
	return nil
}

// sent is the header of a message a replica handed to its bus.
type sent struct {
	h         wire.Header
	toReplica int // -1: to a client
}

// recordBus records every message the replica sends.
type recordBus struct {
	from uint8
	out  []sent
}

func (b *recordBus) record(to int, m *wire.Message) {
	var h wire.Header
	h.Decode(m.Buffer)
	b.out = append(b.out, sent{h: h, toReplica: to})
}

func (b *recordBus) SendToReplica(to uint8, m *wire.Message) {
	if to == b.from {
		panic("replica sent a message to itself")
	}
	b.record(int(to), m)
}

func (b *recordBus) SendToClient(_ wire.Uint128, m *wire.Message) { b.record(-1, m) }

// fakeJournal keeps writes pending until complete is called, then keeps
// the durable prepares and every checkpoint taken.
type fakeJournal struct {
	pending     []*wire.Message
	reads       []fakeRead
	stored      map[uint64][]byte // op -> prepare bytes
	checkpoints []fakeCheckpoint  // oldest first
}

type fakeRead struct {
	op  uint64
	msg *wire.Message
}

// fakeCheckpoint is a checkpoint the fake journal keeps.
type fakeCheckpoint struct {
	op       uint64
	checksum wire.Uint128
	state    []byte
	sessions []byte
}

func (j *fakeJournal) Checkpoint(op uint64, checksum wire.Uint128, b CheckpointBlobs) error {
	j.checkpoints = append(j.checkpoints, fakeCheckpoint{op, checksum, append([]byte(nil), b.State...), append([]byte(nil), b.Sessions...)})
	return nil
}

func (j *fakeJournal) PersistView(uint32, uint32, uint64, wire.Uint128, uint64, uint64) error {
	return nil
}

func (j *fakeJournal) PersistRejoined() error { return nil }

func (j *fakeJournal) Truncate(afterOp uint64) error {
	for op := range j.stored {
		if op > afterOp {
			delete(j.stored, op)
		}
	}
	return nil
}

func (j *fakeJournal) ReadPrepare(op uint64, m *wire.Message) {
	j.reads = append(j.reads, fakeRead{op: op, msg: m.Ref()})
}

func (j *fakeJournal) WritePrepare(m *wire.Message) { j.pending = append(j.pending, m.Ref()) }

// one is a single replica under test and its fakes.
type one struct {
	t    testing.TB
	r    *Replica
	cfg  Config
	pool *wire.Pool
	bus  *recordBus
	j    *fakeJournal
	sm   *counterMachine
}

// testConfig is the configuration of replica index of a test cluster of
// count replicas (test limits, 4 client sessions, default timeouts);
// edit, if not nil, changes it last.
func testConfig(count, index uint8, edit func(*Config)) Config {
	cfg := Config{Cluster: wire.Uint128{Lo: 77}, ReplicaCount: count, Replica: index, Limits: wire.LimitsTest, Seed: 1}
	cfg.Limits.ReplicaCount = int(count)
	cfg.Limits.ClientsMax = 4
	cfg.DefaultTimeouts()
	if edit != nil {
		edit(&cfg)
	}
	return cfg
}

// testPool is a message pool for cfg.
func testPool(t testing.TB, cfg Config) *wire.Pool {
	t.Helper()
	pool, err := wire.NewPool(cfg.Limits.MessagesMax(), cfg.Limits.MessageSizeMax)
	if err != nil {
		t.Fatal(err)
	}
	return pool
}

// newOne builds replica index of a cluster of count replicas; edit, if not
// nil, changes the configuration first.
func newOne(t testing.TB, count, index uint8, edit func(*Config)) *one {
	t.Helper()
	o := &one{t: t, cfg: testConfig(count, index, edit), j: &fakeJournal{stored: map[uint64][]byte{}}}
	o.fresh()
	return o
}

// fresh replaces the replica by a new one on the same journal, with an
// empty state machine and a new bus.
func (o *one) fresh() {
	o.t.Helper()
	pool := testPool(o.t, o.cfg)
	o.pool, o.bus, o.sm = pool, &recordBus{from: o.cfg.Replica}, newCounterMachine()
	var err error
	o.r, err = New(o.cfg, pool, o.bus, o.j, fixedClock(1_700_000_000_000_000_000), o.sm)
	if err != nil {
		o.t.Fatal(err)
	}
}

// deliver hands raw message bytes to the replica, as its bus would after
// checking them.
func (o *one) deliver(data []byte) {
	o.t.Helper()
	m, err := o.pool.Get()
	if err != nil {
		o.t.Fatal(err)
	}
	defer m.Unref()
	copy(m.Buffer, data)
	var h wire.Header
	if err := wire.DecodeHeader(m.Buffer, &h, &o.r.wcfg); err != nil {
		o.t.Fatalf("invalid header: %v", err)
	}
	if err := wire.VerifyBody(&h, m.Buffer[wire.HeaderSize:h.Size]); err != nil {
		o.t.Fatalf("invalid body: %v", err)
	}
	o.r.OnMessage(m, &h)
}

// complete finishes every journal write and read in flight.
func (o *one) complete() {
	for len(o.j.pending) > 0 || len(o.j.reads) > 0 {
		pending, reads := o.j.pending, o.j.reads
		o.j.pending, o.j.reads = nil, nil
		for _, m := range pending {
			var h wire.Header
			h.Decode(m.Buffer)
			o.j.stored[h.Op] = append([]byte(nil), m.Bytes(h.Size)...)
			o.r.OnPrepareWritten(m)
			m.Unref()
		}
		for _, rd := range reads {
			data, ok := o.j.stored[rd.op]
			copy(rd.msg.Buffer, data)
			o.r.OnPrepareRead(rd.msg, ok)
			rd.msg.Unref()
		}
	}
}

// settle flushes the replica and completes its I/O until it has nothing
// left to prepare (a single-replica cluster commits what it prepares).
func (o *one) settle() {
	for range 100 {
		o.r.Flush()
		if len(o.j.pending) == 0 && len(o.j.reads) == 0 {
			return
		}
		o.complete()
	}
	o.t.Fatal("replica did not settle")
}

// send delivers messages, settles, and returns the headers of what the
// replica sent to clients meanwhile.
func (o *one) send(msgs ...[]byte) []wire.Header {
	o.t.Helper()
	o.bus.out = nil
	for _, m := range msgs {
		o.deliver(m)
	}
	o.settle()
	var out []wire.Header
	for _, s := range o.bus.out {
		if s.toReplica < 0 {
			out = append(out, s.h)
		}
	}
	return out
}

// requests registers the clients with ids 1000.. and has each send n adds
// of 1, one request at a time, each answered before the next.
func (o *one) requests(clients int, n uint32) {
	o.t.Helper()
	for c := range clients {
		id := wire.Uint128{Lo: uint64(1000 + c), Hi: 5}
		out := o.send(rawRequest(o.cfg, id, 0, 0, wire.Uint128{}, 0))
		for req := uint32(1); ; req++ {
			if len(out) != 1 || out[0].Command != wire.CommandReply {
				o.t.Fatalf("client %v request %d: %+v", id, req-1, out)
			}
			if req > n {
				break
			}
			out = o.send(rawRequest(o.cfg, id, out[0].Session, req, out[0].Checksum, 1))
		}
	}
}
