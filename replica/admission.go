package replica

import (
	"math"

	"github.com/chronon-db/chronon/internal/invariants"
	"github.com/chronon-db/chronon/wire"
)

// admissionBudget is one prepare's admission room (statemachine.Admission):
// what the state machine grants, less the cost of this primary's prepares
// not yet committed, and what this prepare took of it.
type admissionBudget struct {
	room  uint64 // math.MaxUint64: no limit
	batch uint64
}

// localReserve is how many request-queue slots stay free for local
// requests while admission holds requests back: the dispatcher's acks free
// the room the held requests wait for.
func localReserve(capacity int) int {
	invariants.Assert(capacity > 0, "replica: local reserve of a queue without room")
	return max(1, capacity/8)
}

// admissionStart returns the room of the next prepare.
func (r *Replica) admissionStart() admissionBudget {
	invariants.Assert(r.held >= 0 && r.held <= r.requests.count, "replica: more held requests than queued ones")
	if r.admission == nil {
		return admissionBudget{room: math.MaxUint64}
	}
	room := r.admission.AdmissionRoom()
	if room == math.MaxUint64 {
		return admissionBudget{room: room}
	}
	var inflight uint64
	for op := r.commitMin + 1; op <= r.op; op++ {
		e := r.ring.get(op)
		invariants.Assert(e != nil, "replica: uncommitted op missing from the primary's prepare ring")
		inflight += e.cost
	}
	if inflight >= room {
		return admissionBudget{}
	}
	return admissionBudget{room: room - inflight}
}

// admit reports whether queued request q goes into the prepare whose
// budget is a, taking its cost from it. A request whose cost does not fit
// is held back (counted once, Counters.AdmissionHeld) until it fits a later
// prepare or has waited Config.AdmissionWaitTicks; then it goes in anyway
// (Counters.AdmissionExpired) and the state machine answers what does not
// fit with its own result.
func (r *Replica) admit(a *admissionBudget, q *queuedRequest) bool {
	invariants.Assert(q.msg != nil && q.tick <= r.tick, "replica: admission of a request without its message or queued in the future")
	if r.admission == nil {
		invariants.Assert(!q.held && r.held == 0, "replica: held request without admission")
		return true
	}
	var cost uint64
	if a.room != math.MaxUint64 {
		cost = r.admission.AdmissionCost(q.operation, q.msg.Buffer[wire.HeaderSize:q.size])
	}
	switch {
	case cost == 0 || (a.batch < a.room && cost <= a.room-a.batch):
	case r.tick-q.tick >= r.cfg.admissionWaitTicks():
		r.Counters.AdmissionExpired++
	default:
		if !q.held {
			q.held = true
			r.held++
			r.Counters.AdmissionHeld++
		}
		return false
	}
	if q.held {
		q.held = false
		r.held--
	}
	if a.batch > math.MaxUint64-cost {
		a.batch = math.MaxUint64
	} else {
		a.batch += cost
	}
	return true
}
