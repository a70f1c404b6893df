package replica

import (
	"encoding/binary"
	"testing"

	"github.com/chronon-db/chronon/wire"
)

// Tests of client sessions: exactly-once requests (VR Revisited §4.1 step 1,
// with TigerBeetle's session rules) on a single replica driven by hand.

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

// deliver sends raw bytes to replica 0 and runs the cluster until the
// network is quiet; it returns the messages sent to clients meanwhile.
func (c *cluster) deliver(msgs ...[]byte) []wire.Header {
	c.captured = nil
	for _, m := range msgs {
		c.deliverToReplica(0, m)
	}
	for range 20 {
		c.step()
	}
	var out []wire.Header
	for _, p := range c.captured {
		var h wire.Header
		h.Decode(p.data)
		out = append(out, h)
	}
	return out
}

func TestSessionRetryGetsStoredReplyWithoutReexecution(t *testing.T) {
	c := newCluster(t, 7, 1, 0, 0)
	cfg := c.replicas[0].cfg
	client := wire.Uint128{Lo: 9}
	out := c.deliver(rawRequest(cfg, client, 0, 0, wire.Uint128{}, 0))
	if len(out) != 1 || out[0].Command != wire.CommandReply || out[0].Session == 0 {
		t.Fatalf("register: %+v", out)
	}
	session := out[0].Session
	req1 := rawRequest(cfg, client, session, 1, out[0].Checksum, 5)
	out = c.deliver(req1)
	if len(out) != 1 || out[0].Request != 1 {
		t.Fatalf("request 1: %+v", out)
	}
	first := out[0]
	// The same request again, twice in one round: the stored reply, not a
	// second execution.
	out = c.deliver(req1, req1)
	if len(out) != 2 || out[0].Checksum != first.Checksum || out[1].Checksum != first.Checksum {
		t.Fatalf("retry did not return the stored reply: %+v", out)
	}
	m := c.machines[0]
	if m.totals[client] != 5 || m.applied[[2]uint64{client.Lo, 1}] != 1 {
		t.Fatalf("request executed %d times, total %d", m.applied[[2]uint64{client.Lo, 1}], m.totals[client])
	}
	if c.replicas[0].Counters.RepliesResent != 2 {
		t.Fatalf("replies resent %d, want 2", c.replicas[0].Counters.RepliesResent)
	}
}

func TestSessionInFlightRetryIsNotPreparedTwice(t *testing.T) {
	c := newCluster(t, 8, 3, 0, 0)
	cfg := c.replicas[0].cfg
	client := wire.Uint128{Lo: 10}
	out := c.deliver(rawRequest(cfg, client, 0, 0, wire.Uint128{}, 0))
	session := out[0].Session
	req := rawRequest(cfg, client, session, 1, out[0].Checksum, 3)
	// Deliver the same request three times before anything commits.
	c.captured = nil
	for range 3 {
		c.deliverToReplica(0, req)
	}
	r := c.replicas[0]
	if r.Counters.DropDuplicate != 2 {
		t.Fatalf("duplicates dropped %d, want 2", r.Counters.DropDuplicate)
	}
	for range 30 {
		c.step()
	}
	for i, m := range c.machines {
		if m.applied[[2]uint64{client.Lo, 1}] != 1 {
			t.Fatalf("replica %d applied the request %d times", i, m.applied[[2]uint64{client.Lo, 1}])
		}
	}
}

func TestSessionOldAndFutureRequestsAreRejected(t *testing.T) {
	c := newCluster(t, 9, 1, 0, 0)
	cfg := c.replicas[0].cfg
	client := wire.Uint128{Lo: 11}
	out := c.deliver(rawRequest(cfg, client, 0, 0, wire.Uint128{}, 0))
	session := out[0].Session
	out = c.deliver(rawRequest(cfg, client, session, 1, out[0].Checksum, 1))
	out = c.deliver(rawRequest(cfg, client, session, 2, out[0].Checksum, 1))
	r := c.replicas[0]
	// Request 1 with different contents: older than the last, dropped.
	if got := c.deliver(rawRequest(cfg, client, session, 1, wire.Uint128{Lo: 1}, 99)); len(got) != 0 {
		t.Fatalf("stale request answered: %+v", got)
	}
	// A request that skips a number is a client bug: dropped.
	if got := c.deliver(rawRequest(cfg, client, session, 4, out[0].Checksum, 1)); len(got) != 0 {
		t.Fatalf("future request answered: %+v", got)
	}
	if r.Counters.DropStaleRequest != 1 || r.Counters.DropBadRequest != 1 {
		t.Fatalf("counters %+v", r.Counters)
	}
	// An unknown session gets an eviction.
	got := c.deliver(rawRequest(cfg, wire.Uint128{Lo: 12}, 5, 1, wire.Uint128{}, 1))
	if len(got) != 1 || got[0].Command != wire.CommandEviction || wire.EvictionReason(got[0].Reason) != wire.EvictionNoSession {
		t.Fatalf("unknown session: %+v", got)
	}
	if c.machines[0].totals[client] != 2 {
		t.Fatalf("total %d, want 2", c.machines[0].totals[client])
	}
}

func TestSessionEvictionIsDeterministicAndBounded(t *testing.T) {
	c := newCluster(t, 10, 3, 0, 0)
	for _, r := range c.replicas {
		// Rebuild each replica with a two-session table.
		r.clients = newClientTable(2)
	}
	cfg := c.replicas[0].cfg
	a, b, d := wire.Uint128{Lo: 1}, wire.Uint128{Lo: 2}, wire.Uint128{Lo: 3}
	ra := c.deliver(rawRequest(cfg, a, 0, 0, wire.Uint128{}, 0))
	rb := c.deliver(rawRequest(cfg, b, 0, 0, wire.Uint128{}, 0))
	// a is used after b registered, so b is the least recently used.
	c.deliver(rawRequest(cfg, a, ra[0].Session, 1, ra[0].Checksum, 1))
	out := c.deliver(rawRequest(cfg, d, 0, 0, wire.Uint128{}, 0))
	var evicted bool
	for _, h := range out {
		if h.Command == wire.CommandEviction && h.Client == b && wire.EvictionReason(h.Reason) == wire.EvictionTableFull {
			evicted = true
		}
	}
	if !evicted {
		t.Fatalf("b was not evicted: %+v", out)
	}
	for i, r := range c.replicas {
		if r.clients.get(b) != nil || r.clients.get(a) == nil || r.clients.get(d) == nil {
			t.Fatalf("replica %d table differs from the expected eviction", i)
		}
		if r.StateDigest() != c.replicas[0].StateDigest() {
			t.Fatalf("replica %d digest differs after eviction", i)
		}
	}
	// b's next request finds no session.
	got := c.deliver(rawRequest(cfg, b, rb[0].Session, 1, rb[0].Checksum, 1))
	if len(got) != 1 || got[0].Command != wire.CommandEviction {
		t.Fatalf("evicted client's request: %+v", got)
	}
}

// TestOversizedRequestIsDroppedNotPanicking sends a request that is a valid
// message but cannot fit inside a prepare.
func TestOversizedRequestIsDroppedNotPanicking(t *testing.T) {
	c := newCluster(t, 14, 1, 0, 0)
	cfg := c.replicas[0].cfg
	client := wire.Uint128{Lo: 21}
	out := c.deliver(rawRequest(cfg, client, 0, 0, wire.Uint128{}, 0))
	h := wire.Header{
		Cluster: cfg.Cluster, Protocol: wire.ProtocolVersion, Command: wire.CommandRequest, Client: client,
		Operation: opAdd, Session: out[0].Session, Request: 1, Parent: out[0].Checksum,
		Size: cfg.Limits.MessageSizeMax, // a whole message: one header too many for a prepare
	}
	msg := make([]byte, h.Size)
	wire.Seal(&h, msg)
	if got := c.deliver(msg); len(got) != 0 {
		t.Fatalf("oversized request answered: %+v", got)
	}
	if c.replicas[0].Counters.DropBadRequest != 1 {
		t.Fatalf("counters %+v", c.replicas[0].Counters)
	}
	// The largest request that fits is served.
	h.Size = RequestSizeMax(cfg.Limits.MessageSizeMax)
	msg = make([]byte, h.Size)
	wire.Seal(&h, msg)
	if got := c.deliver(msg); len(got) != 1 || got[0].Command != wire.CommandReply {
		t.Fatalf("largest request: %+v", got)
	}
}
