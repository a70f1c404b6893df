package sim

import (
	"github.com/chronon-db/chronon/outbox"
	"github.com/chronon-db/chronon/replica"
	"github.com/chronon-db/chronon/wire"
)

// dispatcher is the simulator's deterministic stand-in for
// outbox.Dispatcher (which uses goroutines and wall time): it lives in the
// host, so it outlives the replica object, but a crash resets it (its
// memory is volatile, like the real one's). It dispatches only while its
// replica is the normal primary, carries the replica's view as the fencing
// token, and hands an answer back as an ack only in that same view.
type dispatcher struct {
	// epoch counts the replica's lives: answers addressed to an earlier
	// life are dropped.
	epoch uint64
	// view is the view the dispatcher works in; a different replica view
	// steps it down (busy effects and ready acks forgotten).
	view uint32
	// active is true while the replica is the normal primary of view.
	active bool
	// busy maps effects delivered and not yet acknowledged to the tick at
	// which they are dispatched again (the ack timeout).
	busy map[wire.Uint128]uint64
	// acks are answers waiting to be submitted, all of view.
	acks    []outbox.Ack
	due     []outbox.Effect
	body    []byte
	decoded []outbox.Ack
	skip    func(wire.Uint128) bool
}

func (d *dispatcher) init() {
	d.busy = map[wire.Uint128]uint64{}
	d.skip = func(id wire.Uint128) bool { _, ok := d.busy[id]; return ok }
}

// stepDown forgets everything of the previous view.
func (d *dispatcher) stepDown(view uint32) {
	d.view = view
	d.active = false
	clear(d.busy)
	d.acks = d.acks[:0]
}

// crashed is called when the host's replica dies: a dispatching primary
// with deliveries outstanding counts as crash_primary_mid_dispatch.
func (h *host) crashedDispatcher() {
	d := &h.disp
	if d.active && len(d.busy) > 0 {
		h.sim.stats.Faults[FaultCrashPrimaryMidDispatch]++
		h.sim.trace.logf("outbox: primary %d crashed with %d deliveries outstanding", h.index, len(d.busy))
	}
	d.epoch++
	d.stepDown(0)
}

// answer takes the sink's answer to a delivery of this dispatcher: it
// becomes an ack if the dispatcher is still in the same life and view.
func (d *dispatcher) answer(h *host, e sinkEvent) {
	if !h.up || e.epoch != d.epoch || e.view != d.view || !d.active {
		h.sim.stats.Outbox.Dropped++
		return
	}
	d.acks = append(d.acks, outbox.Ack{ID: e.id, View: e.view, Attempt: e.attempt, Outcome: e.outcome})
}

// acksCommitted is the replica's AcksCommitted hook: effects acknowledged
// in the dispatcher's view are no longer busy.
func (h *host) acksCommitted(body []byte) {
	d := &h.disp
	var err error
	d.decoded, err = outbox.DecodeAcks(d.decoded[:0], body, h.outbox.Config().ResultSizeMax)
	if err != nil {
		h.sim.fail(violation(InvariantWorkload, "replica %d committed an invalid ack body: %v", h.index, err))
		return
	}
	for _, a := range d.decoded {
		if _, ok := d.busy[a.ID]; ok && a.View == d.view {
			delete(d.busy, a.ID)
			h.sim.stats.Outbox.AcksCommitted++
		}
	}
}

// dispatch runs the host's dispatcher for one tick, as node.dispatch does
// for a real node: step down on a view change, expire ack timeouts, and,
// only on the normal primary, submit ready acks and deliver due effects.
func (h *host) dispatch() {
	s, d := h.sim, &h.disp
	if !h.up || s.paused(int(h.index)) {
		return
	}
	r := h.replica
	if v := r.View(); v != d.view {
		d.stepDown(v)
	}
	for id, until := range d.busy {
		if until <= s.now {
			delete(d.busy, id) // the set removed does not depend on the order
		}
	}
	d.active = r.Status() == replica.StatusNormal && r.IsPrimary()
	if !d.active {
		d.acks = d.acks[:0]
		return
	}
	h.submitAcks()
	if !h.up {
		return
	}
	o := s.outbox
	now := simClock{&s.now}.Realtime()
	d.due = h.outbox.Due(d.due[:0], now, outboxDueMax, d.skip)
	for i := range d.due {
		e := &d.due[i]
		if err := checkDispatch(int(h.index), r.Status(), r.IsPrimary(), r.View(), d.view, e, s.cluster, s.chain.highest()); err != nil {
			s.fail(err)
			return
		}
		var transfer wire.Uint128
		if len(e.Payload) >= 16 {
			transfer = wire.Uint128{Lo: le64(e.Payload[0:]), Hi: le64(e.Payload[8:])}
		}
		d.busy[e.ID] = s.now + outboxAckTimeout
		s.stats.Outbox.Dispatched++
		o.schedule(sinkEvent{due: s.now + o.latency(), host: int(h.index), epoch: d.epoch, id: e.ID, view: d.view, attempt: e.Attempts + 1, transfer: transfer})
	}
}

// submitAcks queues up to outboxAcksMax ready acks as one outbox_ack
// request; ack_lost drops some of them first (their effects stay busy
// until the ack timeout, then are dispatched again).
func (h *host) submitAcks() {
	s, d := h.sim, &h.disp
	if len(d.acks) == 0 {
		return
	}
	o := s.outbox
	n := min(len(d.acks), outboxAcksMax)
	kept := d.acks[:0]
	for i, a := range d.acks {
		if i < n && o.ackLostPct > 0 && o.rng.Float64() < o.ackLostPct {
			s.stats.Faults[FaultAckLost]++
			continue
		}
		kept = append(kept, a)
	}
	d.acks = kept
	n = min(len(d.acks), outboxAcksMax)
	if n == 0 {
		return
	}
	d.body = outbox.AppendAckBody(d.body[:0], d.acks[:n])
	ok := false
	h.call(func(r *replica.Replica) { ok = r.SubmitAcks(d.body) })
	if ok {
		s.stats.Outbox.AcksSubmitted += uint64(n)
		d.acks = append(d.acks[:0], d.acks[n:]...)
	}
}

func le64(b []byte) uint64 {
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}
