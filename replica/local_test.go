package replica

import (
	"testing"

	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// TestSubmitLocalCommitsOnEveryReplica: a local request (SubmitLocal) of
// an operation the state machine declares local-only is taken only by the
// normal primary, goes through consensus (a prepare) and is applied once
// as statemachine.LocalClient, by the primary and by a replica applying
// that prepare, with no reply to anyone; operations the machine does not
// declare local-only are refused.
func TestSubmitLocalCommitsOnEveryReplica(t *testing.T) {
	if newOne(t, 3, 1, nil).r.SubmitLocal(opLocal, []byte("x")) {
		t.Fatal("a backup took a local request")
	}
	o := newOne(t, 1, 0, nil)
	if o.r.SubmitLocal(opAdd, make([]byte, 8)) {
		t.Fatal("the primary took a local request of an operation that is not local-only")
	}
	if !o.r.SubmitLocal(opLocal, []byte("ack")) {
		t.Fatal("the primary refused a local request")
	}
	if out := o.send(); len(out) != 0 {
		t.Fatalf("messages to clients: %+v", out)
	}
	if o.sm.local != 1 || o.sm.localClient != 1 || o.r.Counters.LocalApplied != 1 || o.r.Counters.LocalSubmitted != 1 || o.r.CommitMin() != 1 {
		t.Fatalf("applied %d (%d as the local client), counters %+v, commit %d: want 1", o.sm.local, o.sm.localClient, o.r.Counters, o.r.CommitMin())
	}
	// A backup applies it from the prepare, as the local client too.
	saved := *o
	o.fresh()
	m, _ := o.pool.Get()
	defer m.Unref()
	copy(m.Buffer, o.j.stored[1])
	var h wire.Header
	if err := wire.DecodeHeader(m.Buffer, &h, &o.r.wcfg); err != nil {
		t.Fatal(err)
	}
	if err := o.r.replayCommitted(m, &h); err != nil {
		t.Fatal(err)
	}
	if o.sm.local != 1 || o.sm.localClient != 1 || o.r.StateDigest() != saved.r.StateDigest() {
		t.Fatalf("replayed: applied %d (%d as the local client), digests %v %v", o.sm.local, o.sm.localClient, o.r.StateDigest(), saved.r.StateDigest())
	}
}

// TestLocalRequestsRefusedFromTheNetwork: a network request that claims
// the local client id, or asks for a local-only operation, is dropped
// before consensus: only components beside the primary submit those.
func TestLocalRequestsRefusedFromTheNetwork(t *testing.T) {
	o := newOne(t, 1, 0, nil)
	cfg := o.cfg
	client := wire.Uint128{Lo: 9}
	out := o.send(rawRequest(cfg, client, 0, 0, wire.Uint128{}, 0))
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
	before := o.r.Counters.DropBadRequest
	o.send(
		local(client, opLocal),                                             // local-only operation from a client
		local(statemachine.LocalClient, opAdd),                             // the local client's id from the network
		local(statemachine.LocalClient, opLocal),                           // both
		rawRequest(cfg, statemachine.LocalClient, 0, 0, wire.Uint128{}, 0), // registering as the local client
	)
	if got := o.r.Counters.DropBadRequest - before; got != 4 {
		t.Fatalf("%d of 4 forged local requests dropped", got)
	}
	if m := o.sm; m.local != 0 || o.r.CommitMin() != 1 {
		t.Fatalf("forged local requests applied: %d, commit %d", m.local, o.r.CommitMin())
	}
}
