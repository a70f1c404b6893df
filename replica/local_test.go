package replica

import (
	"testing"

	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// TestSubmitLocalCommitsOnEveryReplica: a local request (SubmitLocal) of
// an operation the state machine declares local-only is taken only by the
// normal primary, goes through consensus and is applied once on every
// replica as statemachine.LocalClient, with no reply to anyone; operations
// the machine does not declare local-only are refused.
func TestSubmitLocalCommitsOnEveryReplica(t *testing.T) {
	c := newCluster(t, 11, 3, 0, 0)
	if c.replicas[1].SubmitLocal(opLocal, []byte("x")) {
		t.Fatal("a backup took a local request")
	}
	if c.primary().SubmitLocal(opAdd, make([]byte, 8)) {
		t.Fatal("the primary took a local request of an operation that is not local-only")
	}
	if !c.primary().SubmitLocal(opLocal, []byte("ack")) {
		t.Fatal("the primary refused a local request")
	}
	c.captured = nil
	for range 50 {
		c.step()
	}
	for i, r := range c.replicas {
		m := c.machines[i]
		if m.local != 1 || m.localClient != 1 || r.Counters.LocalApplied != 1 {
			t.Fatalf("replica %d: applied %d (%d as the local client), counter %d, want 1", i, m.local, m.localClient, r.Counters.LocalApplied)
		}
	}
	if c.primary().Counters.LocalSubmitted != 1 || len(c.captured) != 0 {
		t.Fatalf("submitted %d, messages to clients %d", c.primary().Counters.LocalSubmitted, len(c.captured))
	}
	c.checkConverged()
}

// TestLocalRequestsRefusedFromTheNetwork: a network request that claims
// the local client id, or asks for a local-only operation, is dropped
// before consensus: only components beside the primary submit those.
func TestLocalRequestsRefusedFromTheNetwork(t *testing.T) {
	c := newCluster(t, 12, 1, 0, 0)
	cfg := c.replicas[0].cfg
	client := wire.Uint128{Lo: 9}
	out := c.deliver(rawRequest(cfg, client, 0, 0, wire.Uint128{}, 0))
	if len(out) != 1 || out[0].Command != wire.CommandReply {
		t.Fatalf("register: %+v", out)
	}
	local := func(client wire.Uint128, op wire.Operation) []byte {
		h := wire.Header{Cluster: cfg.Cluster, Size: wire.HeaderSize + 8, Protocol: wire.ProtocolVersion, Command: wire.CommandRequest,
			Client: client, Session: out[0].Session, Request: 1, Parent: out[0].Checksum, Operation: op}
		msg := make([]byte, h.Size)
		wire.Seal(&h, msg)
		return msg
	}
	before := c.replicas[0].Counters.DropBadRequest
	c.deliver(
		local(client, opLocal),                                             // local-only operation from a client
		local(statemachine.LocalClient, opAdd),                             // the local client's id from the network
		local(statemachine.LocalClient, opLocal),                           // both
		rawRequest(cfg, statemachine.LocalClient, 0, 0, wire.Uint128{}, 0), // registering as the local client
	)
	if got := c.replicas[0].Counters.DropBadRequest - before; got != 4 {
		t.Fatalf("%d of 4 forged local requests dropped", got)
	}
	if m := c.machines[0]; m.local != 0 || c.replicas[0].CommitMin() != 1 {
		t.Fatalf("forged local requests applied: %d, commit %d", m.local, c.replicas[0].CommitMin())
	}
}
