package outbox

import (
	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// Emitter is how a state machine adds effects while the replica applies a
// committed request. Each Table owns one (Table.Emitter); the state machine
// keeps the pointer (e.g. given to its constructor) and calls Emit from
// Apply. The replica brackets every Apply with Begin and End.
//
// Effects emitted during Apply are part of the same commit as the state
// change: Apply only runs for committed requests, identically on every
// replica, so every replica's table gains the same effects with the same
// ids. Indexes count effects per op across all requests of a batch prepare,
// in apply order.
type Emitter struct {
	t        *Table
	applying bool
	op       uint64
	ts       uint64
	next     uint32 // index of the next effect of op
	started  bool   // op and next are meaningful
}

// Emitter returns the table's emitter.
func (t *Table) Emitter() *Emitter { return &t.emitter }

func (e *Emitter) reset() { *e = Emitter{t: e.t} }

// Begin opens emission for the request described by ctx. A new ctx.Op
// restarts the index at 0; further requests of the same op continue it.
func (e *Emitter) Begin(ctx *statemachine.Context) {
	if !e.started || ctx.Op != e.op {
		e.op, e.next, e.started = ctx.Op, 0, true
	}
	e.ts = ctx.Timestamp
	e.applying = true
}

// End closes emission; Emit fails with ErrNotApplying until the next Begin.
func (e *Emitter) End() { e.applying = false }

// Room returns how many more effects fit in the table. A state machine
// that emits several effects for one event checks Room first, so it can
// reject the event with an error result before changing any state.
func (e *Emitter) Room() int { return len(e.t.free) }

// Emit adds an effect of the given kind, target and payload (copied) and
// returns its id. It fails, adding nothing, with ErrNotApplying,
// ErrTargetSize, ErrPayloadSize, ErrFull or ErrDuplicateID; the state
// machine should then answer its client with an error result. Emit does
// not allocate.
func (e *Emitter) Emit(kind Kind, target, payload []byte) (wire.Uint128, error) {
	t := e.t
	switch {
	case !e.applying:
		return wire.Uint128{}, ErrNotApplying
	case len(target) == 0 || len(target) > t.cfg.TargetSizeMax:
		return wire.Uint128{}, ErrTargetSize
	case len(payload) > t.cfg.PayloadSizeMax:
		return wire.Uint128{}, ErrPayloadSize
	case len(t.free) == 0:
		return wire.Uint128{}, ErrFull
	}
	id := EffectID(t.cfg.Cluster, e.op, e.next)
	if _, dup := t.index.find(t.slots, id); dup {
		return wire.Uint128{}, ErrDuplicateID
	}
	t.insert(id, e.op, e.next, kind, e.ts, target, payload)
	t.emitted++
	e.next++
	return id, nil
}
