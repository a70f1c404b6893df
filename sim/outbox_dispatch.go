package sim

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/chronon-db/chronon/outbox"
	"github.com/chronon-db/chronon/replica"
	"github.com/chronon-db/chronon/wire"
)

// dispatcher is a host's outbox dispatcher: the product's
// outbox.Dispatcher, whose Step (the dispatch policy node runs) the
// simulator calls every tick, over a simulated transport. A crash closes it
// (its memory is volatile, like a node process's); the next Step after the
// restart makes a new one, as a new node process would.
type dispatcher struct {
	d *outbox.Dispatcher
	t *simTransport
	// decoded is scratch space of checkAcks.
	decoded []outbox.Ack
}

func (d *dispatcher) init() {}

// simTransport is the outbox.Transport of one dispatcher: it puts each
// attempt on the simulated wire to the receiver (1–5 ticks), and hands the
// outcome back to the dispatcher that started it with Complete.
type simTransport struct {
	h *host
	d *outbox.Dispatcher
}

// Start checks the dispatch invariants, then sends a to the receiver.
func (t *simTransport) Start(a *outbox.Attempt) {
	h := t.h
	s := h.sim
	if !h.up {
		s.stats.Outbox.NonPrimaryDeliveries++
		s.fail(violation(InvariantDispatchNotPrimary, "replica %d dispatched effect %x while down", h.index, a.ID.Lo))
		return
	}
	r := h.replica
	e, ok := h.outbox.Get(a.ID)
	if !ok {
		s.fail(violation(InvariantDispatchUncommitted, "replica %d dispatched effect %x, which its table does not hold", h.index, a.ID.Lo))
		return
	}
	if err := checkDispatch(int(h.index), r.Status(), r.IsPrimary(), r.View(), a.Token, &e, s.cluster, s.chain.highest()); err != nil {
		if violated(err) == InvariantDispatchNotPrimary {
			s.stats.Outbox.NonPrimaryDeliveries++
		}
		s.fail(err)
		return
	}
	s.stats.Outbox.Dispatched++
	o := s.outbox
	o.schedule(sinkEvent{due: s.now + o.latency(), start: s.now, attempt: a, via: t})
}

// Close has nothing to stop: attempts on the wire still arrive, and their
// outcomes reach a closed dispatcher, which drops them.
func (t *simTransport) Close(context.Context) error { return nil }

// complete hands an outcome back to the dispatcher that started the
// attempt, counting what the dispatcher dropped.
func (t *simTransport) complete(e sinkEvent) {
	before := t.d.Stats().Dropped
	t.d.Complete(e.attempt, e.result, e.err)
	t.h.sim.stats.Outbox.Dropped += t.d.Stats().Dropped - before
}

// simReplica is the host's replica as the dispatcher's Step sees it.
// SubmitLocal goes through host.call (a crash inside it is the crash), and
// ack_lost loses the request after the replica would have taken it.
type simReplica host

func (r *simReplica) View() uint32    { return r.replica.View() }
func (r *simReplica) IsPrimary() bool { return r.replica.IsPrimary() }
func (r *simReplica) Normal() bool    { return r.replica.Normal() }

func (r *simReplica) SubmitLocal(op wire.Operation, body []byte) bool {
	h := (*host)(r)
	s := h.sim
	if op != wire.OperationOutboxAck {
		panic(fmt.Sprintf("sim: dispatcher submitted a local request of operation %v", op))
	}
	if err := h.checkAcks(body); err != nil {
		s.fail(err)
		return false
	}
	if o := s.outbox; o.ackLostPct > 0 && o.rng.Float64() < o.ackLostPct {
		s.stats.Faults[FaultAckLost] += uint64(binary.LittleEndian.Uint32(body))
		return true
	}
	ok := false
	h.call(func(r *replica.Replica) { ok = r.SubmitLocal(op, body) })
	if ok {
		s.stats.Outbox.AcksSubmitted += uint64(binary.LittleEndian.Uint32(body))
	}
	return ok
}

// checkAcks is asserted for every ack body a dispatcher submits: the
// replica is the normal primary of its view and every ack carries that
// view (an outcome of an older view is never acknowledged in a newer one).
func (h *host) checkAcks(body []byte) error {
	r := h.replica
	var err error
	h.disp.decoded, err = outbox.DecodeAcks(h.disp.decoded[:0], body, h.outbox.Config().ResultSizeMax)
	if err != nil {
		return violation(InvariantDispatchNotPrimary, "replica %d submitted an invalid ack body: %v", h.index, err)
	}
	for _, a := range h.disp.decoded {
		if !r.Normal() || !r.IsPrimary() || a.View != r.View() {
			return violation(InvariantDispatchNotPrimary, "replica %d submitted an ack of effect %x with view %d while in view %d, status %v, primary %v",
				h.index, a.ID.Lo, a.View, r.View(), r.Status(), r.IsPrimary())
		}
	}
	return nil
}

// newDispatcher makes the dispatcher of the host's current life. Its clock
// is the sim clock in the prepare-timestamp domain.
func (h *host) newDispatcher() {
	s := h.sim
	t := &simTransport{h: h}
	d, err := outbox.NewDispatcher(outbox.DispatcherConfig{
		Transport:      t,
		InFlightMax:    64,
		AttemptTimeout: outboxAttemptTimeout * 10 * time.Millisecond,
		AckTimeout:     outboxAckTimeout * 10 * time.Millisecond,
		ResultSizeMax:  s.outboxConfig().ResultSizeMax,
		DueMax:         outboxDueMax,
		AckBodySizeMax: int(replica.RequestSizeMax(h.wcfg.MessageSizeMax)) - wire.HeaderSize,
		Logger:         discard,
		Now:            func() time.Time { return time.Unix(0, int64(simClock{&s.now}.Realtime())) },
	})
	if err != nil {
		panic("sim: " + err.Error())
	}
	t.d = d
	h.disp.d, h.disp.t = d, t
}

// crashedDispatcher is called when the host's replica dies: the
// dispatcher is closed (its outcomes still on the wire are dropped by it).
// A dispatching primary with attempts outstanding counts as
// crash_primary_mid_dispatch.
func (h *host) crashedDispatcher() {
	d := h.disp.d
	if d == nil {
		return
	}
	if st := d.Stats(); st.InFlight+st.Awaiting > 0 {
		h.sim.stats.Faults[FaultCrashPrimaryMidDispatch]++
		h.sim.trace.logf("outbox: primary %d crashed with %d attempts in flight, %d awaiting their ack", h.index, st.InFlight, st.Awaiting)
	}
	_ = d.Close(context.Background())
	h.disp.d, h.disp.t = nil, nil
}

// acksCommitted is the outbox machine's hook (Machine.OnAcksCommitted),
// called as an ack commits on this host: the dispatcher stops
// tracking the attempts a committed ack acknowledged. (During recovery's
// replay there is no dispatcher yet.)
func (h *host) acksCommitted(body []byte) {
	if d := h.disp.d; d != nil {
		before := d.Stats().AcksCommitted
		d.Committed(body)
		h.sim.stats.Outbox.AcksCommitted += d.Stats().AcksCommitted - before
	}
}

// dispatch runs the host's dispatcher for one tick: outbox.Dispatcher.Step
// with the host's replica and table, exactly as node runs it.
func (h *host) dispatch() {
	if !h.up || h.sim.paused(int(h.index)) || (h.sim.sc.workload != WorkloadLedger && !h.sim.sc.OutboxKV) {
		return
	}
	if h.disp.d == nil {
		h.newDispatcher()
	}
	h.disp.d.Step((*simReplica)(h), h.outbox)
}
