package replica

import (
	"testing"

	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// admitMachine is a counterMachine with admission: opAdd costs 1 and
// takes 1 of the room when applied (the test sets the room); opLocal
// costs 0.
type admitMachine struct {
	*counterMachine
	room uint64
}

func (a *admitMachine) Apply(ctx *statemachine.Context, op wire.Operation, input, reply []byte) int {
	if op == opAdd && a.room > 0 {
		a.room--
	}
	return a.counterMachine.Apply(ctx, op, input, reply)
}

func (a *admitMachine) AdmissionCost(op wire.Operation, _ []byte) uint64 {
	if op == opAdd {
		return 1
	}
	return 0
}

func (a *admitMachine) AdmissionRoom() uint64 { return a.room }

// TestAdmissionHoldsThenAdmits: with no room, a client's request is held in
// the queue (counted once, no prepare, no reply) while a local request of
// cost 0 behind it is prepared and applied; once the machine grants room
// the held request is prepared at the next Flush; a request held with no
// room at all is prepared anyway after AdmissionWaitTicks, and the queue
// keeps its last slots for local requests while requests are held.
func TestAdmissionHoldsThenAdmits(t *testing.T) {
	o := newOne(t, 1, 0, func(c *Config) { c.AdmissionWaitTicks = 3 })
	sm := &admitMachine{counterMachine: o.sm, room: 1 << 20}
	r, err := New(o.cfg, o.pool, o.bus, o.j, fixedClock(1_700_000_000_000_000_000), sm)
	if err != nil {
		t.Fatal(err)
	}
	o.r = r
	a, b := wire.Uint128{Lo: 1, Hi: 5}, wire.Uint128{Lo: 2, Hi: 5}
	ra := o.send(rawRequest(o.cfg, a, 0, 0, wire.Uint128{}, 0))
	rb := o.send(rawRequest(o.cfg, b, 0, 0, wire.Uint128{}, 0))
	if len(ra) != 1 || len(rb) != 1 {
		t.Fatalf("registers: %+v %+v", ra, rb)
	}
	sm.room = 0
	commit := o.r.CommitMin()
	if out := o.send(rawRequest(o.cfg, a, ra[0].Session, 1, ra[0].Checksum, 7)); len(out) != 0 || o.r.CommitMin() != commit {
		t.Fatalf("a request without room was prepared: replies %+v, commit %d → %d", out, commit, o.r.CommitMin())
	}
	if o.r.Counters.AdmissionHeld != 1 || o.r.held != 1 {
		t.Fatalf("held %d (counter %d), want 1", o.r.held, o.r.Counters.AdmissionHeld)
	}
	if !o.r.SubmitLocal(opLocal, []byte("ack")) {
		t.Fatal("the primary refused a local request while another is held")
	}
	o.settle()
	if o.sm.local != 1 || o.r.held != 1 || o.sm.totals[a] != 0 {
		t.Fatalf("local applied %d, held %d, client total %d: the local request must pass the held one", o.sm.local, o.r.held, o.sm.totals[a])
	}
	// One request is queued: b's goes in too (the reserve is the last
	// slot), and is held.
	if out := o.send(rawRequest(o.cfg, b, rb[0].Session, 1, rb[0].Checksum, 1)); len(out) != 0 || o.r.held != 2 {
		t.Fatalf("b's request: replies %+v, held %d", out, o.r.held)
	}
	sm.room = 1
	o.bus.out = nil
	o.settle()
	if o.sm.totals[a] != 7 || o.r.held != 1 {
		t.Fatalf("with room for one: a's total %d, held %d", o.sm.totals[a], o.r.held)
	}
	if sm.room != 0 {
		t.Fatalf("room left after a's request: %d", sm.room)
	}
	for range 3 {
		o.r.Tick()
		o.complete()
	}
	o.settle()
	if o.sm.totals[b] != 1 || o.r.held != 0 || o.r.Counters.AdmissionExpired != 1 || o.r.Counters.AdmissionHeld != 2 {
		t.Fatalf("after the wait: b's total %d, held %d, counters %+v", o.sm.totals[b], o.r.held, o.r.Counters)
	}
}

// TestAdmissionQueueReserve: while a request is held, network requests
// leave the queue's last slot(s) to local ones.
func TestAdmissionQueueReserve(t *testing.T) {
	if got := localReserve(4); got != 1 {
		t.Fatalf("reserve of a 4-slot queue: %d", got)
	}
	if got := localReserve(1024); got != 128 {
		t.Fatalf("reserve of a 1024-slot queue: %d", got)
	}
	o := newOne(t, 1, 0, nil)
	sm := &admitMachine{counterMachine: o.sm, room: 1 << 20}
	r, err := New(o.cfg, o.pool, o.bus, o.j, fixedClock(1_700_000_000_000_000_000), sm)
	if err != nil {
		t.Fatal(err)
	}
	o.r = r
	var regs [4][]wire.Header
	ids := [4]wire.Uint128{}
	for i := range ids {
		ids[i] = wire.Uint128{Lo: uint64(i + 1), Hi: 6}
		regs[i] = o.send(rawRequest(o.cfg, ids[i], 0, 0, wire.Uint128{}, 0))
		if len(regs[i]) != 1 {
			t.Fatalf("register %d: %+v", i, regs[i])
		}
	}
	sm.room = 0
	capacity := len(o.r.requests.items)
	for i := range ids {
		o.send(rawRequest(o.cfg, ids[i], regs[i][0].Session, 1, regs[i][0].Checksum, 1))
	}
	if o.r.requests.count != capacity-localReserve(capacity) || o.r.Counters.DropQueueFull == 0 {
		t.Fatalf("queued %d of %d slots, %d refused: want the last %d kept", o.r.requests.count, capacity, o.r.Counters.DropQueueFull, localReserve(capacity))
	}
	if !o.r.SubmitLocal(opLocal, []byte("ack")) {
		t.Fatal("a local request found no slot while requests are held")
	}
}
