package replica

import (
	"encoding/binary"
	"testing"

	"github.com/chronon-db/chronon/wire"
)

// Tests of client sessions: exactly-once requests (VR Revisited §4.1 step 1,
// with TigerBeetle's session rules) on a single replica driven by hand
// (one_replica_test.go).

// rawRequest builds a sealed request.
func rawRequest(cfg Config, client wire.Uint128, session uint64, request uint32, parent wire.Uint128, add uint64) []byte {
	h := wire.Header{
		Cluster:  cfg.Cluster,
		Size:     wire.HeaderSize,
		Protocol: wire.ProtocolVersion,
		Command:  wire.CommandRequest,
		Client:   client,
	}
	var body []byte
	if session == 0 {
		h.Operation = wire.OperationRegister
	} else {
		h.Operation, h.Session, h.Request, h.Parent = opAdd, session, request, parent
		body = binary.LittleEndian.AppendUint64(nil, add)
		h.Size += 8
	}
	msg := make([]byte, h.Size)
	copy(msg[wire.HeaderSize:], body)
	wire.Seal(&h, msg)
	return msg
}

func TestSessionRetryGetsStoredReplyWithoutReexecution(t *testing.T) {
	o := newOne(t, 1, 0, nil)
	cfg := o.cfg
	client := wire.Uint128{Lo: 9}
	out := o.send(rawRequest(cfg, client, 0, 0, wire.Uint128{}, 0))
	if len(out) != 1 || out[0].Command != wire.CommandReply || out[0].Session == 0 {
		t.Fatalf("register: %+v", out)
	}
	session := out[0].Session
	req1 := rawRequest(cfg, client, session, 1, out[0].Checksum, 5)
	out = o.send(req1)
	if len(out) != 1 || out[0].Request != 1 {
		t.Fatalf("request 1: %+v", out)
	}
	first := out[0]
	// The same request again, twice in one round: the stored reply, not a
	// second execution.
	out = o.send(req1, req1)
	if len(out) != 2 || out[0].Checksum != first.Checksum || out[1].Checksum != first.Checksum {
		t.Fatalf("retry did not return the stored reply: %+v", out)
	}
	m := o.sm
	if m.totals[client] != 5 || m.applied[[2]uint64{client.Lo, 1}] != 1 {
		t.Fatalf("request executed %d times, total %d", m.applied[[2]uint64{client.Lo, 1}], m.totals[client])
	}
	if o.r.Counters.RepliesResent != 2 {
		t.Fatalf("replies resent %d, want 2", o.r.Counters.RepliesResent)
	}
}

// TestSessionInFlightRetryIsNotPreparedTwice: retries of a request that
// is queued, then prepared but not yet committed, are dropped as
// duplicates; it is prepared and applied once.
func TestSessionInFlightRetryIsNotPreparedTwice(t *testing.T) {
	o := newOne(t, 1, 0, nil)
	cfg := o.cfg
	client := wire.Uint128{Lo: 10}
	out := o.send(rawRequest(cfg, client, 0, 0, wire.Uint128{}, 0))
	session := out[0].Session
	req := rawRequest(cfg, client, session, 1, out[0].Checksum, 3)
	// The same request twice while queued, then once more while its
	// prepare is being written: nothing has committed.
	r := o.r
	o.deliver(req)
	o.deliver(req)
	r.Flush()
	o.deliver(req)
	if r.Counters.DropDuplicate != 2 || r.CommitMin() != 1 {
		t.Fatalf("duplicates dropped %d, commit %d: want 2 dropped before request 1 commits", r.Counters.DropDuplicate, r.CommitMin())
	}
	o.settle()
	if n := o.sm.applied[[2]uint64{client.Lo, 1}]; n != 1 || r.Op() != 2 {
		t.Fatalf("request applied %d times, op %d: want once, in op 2", n, r.Op())
	}
}

func TestSessionOldAndFutureRequestsAreRejected(t *testing.T) {
	o := newOne(t, 1, 0, nil)
	cfg := o.cfg
	client := wire.Uint128{Lo: 11}
	out := o.send(rawRequest(cfg, client, 0, 0, wire.Uint128{}, 0))
	session := out[0].Session
	out = o.send(rawRequest(cfg, client, session, 1, out[0].Checksum, 1))
	out = o.send(rawRequest(cfg, client, session, 2, out[0].Checksum, 1))
	r := o.r
	// Request 1 with different contents: older than the last, dropped.
	if got := o.send(rawRequest(cfg, client, session, 1, wire.Uint128{Lo: 1}, 99)); len(got) != 0 {
		t.Fatalf("stale request answered: %+v", got)
	}
	// A request that skips a number is a client bug: dropped.
	if got := o.send(rawRequest(cfg, client, session, 4, out[0].Checksum, 1)); len(got) != 0 {
		t.Fatalf("future request answered: %+v", got)
	}
	// So is the next request whose parent is not the last reply's checksum.
	if got := o.send(rawRequest(cfg, client, session, 3, out[0].Context, 1)); len(got) != 0 {
		t.Fatalf("request with a wrong parent answered: %+v", got)
	}
	if r.Counters.DropStaleRequest != 1 || r.Counters.DropRequestAhead != 1 || r.Counters.DropBadParent != 1 {
		t.Fatalf("counters %+v", r.Counters)
	}
	// An unknown session gets an eviction.
	got := o.send(rawRequest(cfg, wire.Uint128{Lo: 12}, 5, 1, wire.Uint128{}, 1))
	if len(got) != 1 || got[0].Command != wire.CommandEviction || wire.EvictionReason(got[0].Reason) != wire.EvictionNoSession || got[0].Session != 5 {
		t.Fatalf("unknown session: %+v", got)
	}
	if o.sm.totals[client] != 2 {
		t.Fatalf("total %d, want 2", o.sm.totals[client])
	}
}

// TestSessionEvictionIsDeterministicAndBounded: a register beyond the
// table's sessions evicts the least recently used client, as part of the
// committed op, so a replica that applies the same ops (a backup, or a
// restart replaying them) evicts the same client.
func TestSessionEvictionIsDeterministicAndBounded(t *testing.T) {
	o := newOne(t, 1, 0, nil)
	o.r.clients = newClientTable(2, 1) // a two-session table
	cfg := o.cfg
	a, b, d := wire.Uint128{Lo: 1}, wire.Uint128{Lo: 2}, wire.Uint128{Lo: 3}
	ra := o.send(rawRequest(cfg, a, 0, 0, wire.Uint128{}, 0))
	rb := o.send(rawRequest(cfg, b, 0, 0, wire.Uint128{}, 0))
	// a is used after b registered, so b is the least recently used.
	o.send(rawRequest(cfg, a, ra[0].Session, 1, ra[0].Checksum, 1))
	out := o.send(rawRequest(cfg, d, 0, 0, wire.Uint128{}, 0))
	var evicted bool
	for _, h := range out {
		if h.Command == wire.CommandEviction && h.Client == b && wire.EvictionReason(h.Reason) == wire.EvictionTableFull {
			evicted = true
		}
	}
	if !evicted {
		t.Fatalf("b was not evicted: %+v", out)
	}
	// Another replica applying the same committed ops.
	saved := *o
	first := o.r
	o.fresh()
	o.r.clients = newClientTable(2, 1)
	for op := uint64(1); op <= first.CommitMin(); op++ {
		m, _ := o.pool.Get()
		copy(m.Buffer, o.j.stored[op])
		var h wire.Header
		if err := wire.DecodeHeader(m.Buffer, &h, &o.r.wcfg); err != nil {
			t.Fatal(err)
		}
		err := o.r.replayCommitted(m, &h)
		m.Unref()
		if err != nil {
			t.Fatalf("op %d: %v", op, err)
		}
	}
	for i, r := range []*Replica{first, o.r} {
		if r.clients.get(b) != nil || r.clients.get(a) == nil || r.clients.get(d) == nil {
			t.Fatalf("replica %d table differs from the expected eviction", i)
		}
		if r.StateDigest() != first.StateDigest() {
			t.Fatalf("replica %d digest differs after eviction", i)
		}
	}
	// b's next request finds no session.
	*o = saved
	got := o.send(rawRequest(cfg, b, rb[0].Session, 1, rb[0].Checksum, 1))
	if len(got) != 1 || got[0].Command != wire.CommandEviction {
		t.Fatalf("evicted client's request: %+v", got)
	}
}

// TestOversizedRequestIsDroppedNotPanicking sends a request that is a valid
// message but cannot fit inside a prepare.
func TestOversizedRequestIsDroppedNotPanicking(t *testing.T) {
	o := newOne(t, 1, 0, nil)
	cfg := o.cfg
	client := wire.Uint128{Lo: 21}
	out := o.send(rawRequest(cfg, client, 0, 0, wire.Uint128{}, 0))
	h := wire.Header{
		Cluster: cfg.Cluster, Protocol: wire.ProtocolVersion, Command: wire.CommandRequest, Client: client,
		Operation: opAdd, Session: out[0].Session, Request: 1, Parent: out[0].Checksum,
		Size: cfg.Limits.MessageSizeMax, // a whole message: one header too many for a prepare
	}
	msg := make([]byte, h.Size)
	wire.Seal(&h, msg)
	if got := o.send(msg); len(got) != 0 {
		t.Fatalf("oversized request answered: %+v", got)
	}
	if o.r.Counters.DropBadRequest != 1 {
		t.Fatalf("counters %+v", o.r.Counters)
	}
	// The largest request that fits is served.
	h.Size = RequestSizeMax(cfg.Limits.MessageSizeMax)
	msg = make([]byte, h.Size)
	wire.Seal(&h, msg)
	if got := o.send(msg); len(got) != 1 || got[0].Command != wire.CommandReply {
		t.Fatalf("largest request: %+v", got)
	}
}
