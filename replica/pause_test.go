package replica

import (
	"testing"

	"github.com/chronon-db/chronon/wire"
)

// TestRegisterBurstBeyondClientsMax delivers more concurrent registers from
// distinct clients than the client table has sessions, in two rounds with
// a prepare in between, before anything commits: the first ClientsMax wait
// in a prepare, the rest must be dropped and counted (the clients retry),
// never overflow the list of registers in flight.
func TestRegisterBurstBeyondClientsMax(t *testing.T) {
	o := newOne(t, 1, 0, nil)
	r, cfg := o.r, o.cfg
	n := cfg.Limits.ClientsMax
	for i := range n {
		o.deliver(rawRequest(cfg, wire.Uint128{Lo: uint64(100 + i)}, 0, 0, wire.Uint128{}, 0))
	}
	r.Flush() // the registers leave the queue for a prepare; its write is pending
	if r.requests.count != 0 || r.CommitMin() != 0 {
		t.Fatalf("queue %d, commit %d: want the registers prepared, not committed", r.requests.count, r.CommitMin())
	}
	for i := range n {
		o.deliver(rawRequest(cfg, wire.Uint128{Lo: uint64(200 + i)}, 0, 0, wire.Uint128{}, 0))
	}
	if r.Counters.DropQueueFull != uint64(n) {
		t.Fatalf("DropQueueFull %d, want %d (registers beyond the sessions in flight)", r.Counters.DropQueueFull, n)
	}
	o.settle()
	if r.clients.used != n || len(r.clients.registering) != 0 {
		t.Fatalf("%d sessions, %d registering: want %d and 0", r.clients.used, len(r.clients.registering), n)
	}
}
