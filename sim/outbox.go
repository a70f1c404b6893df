package sim

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/chronon-db/chronon/ledger"
	"github.com/chronon-db/chronon/outbox"
	"github.com/chronon-db/chronon/wire"
)

// The outbox simulation: every replica holds an outbox.Table, the ledger
// emits one effect per created transfer, a deterministic dispatcher per
// replica (outbox_dispatch.go) delivers the due effects of a normal primary
// to one idempotent sink per cluster (outbox_sink.go), and the sink's
// answers come back as acks committed through consensus. See
// docs/simulator.md, "The outbox".

// Outbox simulation parameters (in ticks of 10 ms unless noted).
const (
	// outboxEffectsMax is every table's capacity.
	outboxEffectsMax = 2048
	// outboxDueMax bounds the effects one dispatcher takes per tick.
	outboxDueMax = 16
	// outboxAcksMax bounds the acks of one outbox_ack request.
	outboxAcksMax = 32
	// outboxAckTimeout is how long a delivered effect stays busy without a
	// committed ack before it is dispatched again.
	outboxAckTimeout = 60
	// outboxLatencyMax bounds the one-way latency to and from the sink.
	outboxLatencyMax = 5
)

// outboxTarget is the target of the ledger's effects.
var outboxTarget = []byte("sim://sink")

// outboxConfig is the table configuration of every replica of s (the same
// everywhere: it shapes replicated state). Backoffs are short so that
// retries fit the run: 100 ms (10 ticks) to 1 s.
func (s *Sim) outboxConfig() outbox.Config {
	return outbox.Config{
		Cluster:        s.cluster,
		EffectsMax:     outboxEffectsMax,
		TargetSizeMax:  32,
		PayloadSizeMax: ledger.TransferSize,
		ResultSizeMax:  16,
		AttemptsMax:    64,
		BackoffMin:     100_000_000,
		BackoffMax:     1_000_000_000,
	}
}

// OutboxStats counts what the outbox simulation did.
type OutboxStats struct {
	Dispatched    uint64 // deliveries started by a primary's dispatcher
	Delivered     uint64 // deliveries that reached the sink (raw requests)
	Applied       uint64 // effects the sink applied (once per key)
	Deduplicated  uint64 // deliveries of an applied key answered without applying
	Fenced        uint64 // deliveries rejected for a stale token
	Dropped       uint64 // answers dropped by fencing (crash or view change of the dispatcher)
	AcksSubmitted uint64 // acks handed to SubmitAcks
	AcksCommitted uint64 // acks seen committed by a dispatching primary
}

func (o *OutboxStats) add(p *OutboxStats) {
	o.Dispatched += p.Dispatched
	o.Delivered += p.Delivered
	o.Applied += p.Applied
	o.Deduplicated += p.Deduplicated
	o.Fenced += p.Fenced
	o.Dropped += p.Dropped
	o.AcksSubmitted += p.AcksSubmitted
	o.AcksCommitted += p.AcksCommitted
}

// sinkEvent is a delivery on its way to the sink or an answer on its way
// back to the dispatcher that sent it.
type sinkEvent struct {
	due, seq uint64
	answer   bool
	host     int
	epoch    uint64 // the dispatcher's epoch (a crash starts a new one)
	id       wire.Uint128
	view     uint32 // fencing token
	attempt  uint32
	transfer wire.Uint128 // the payload's transfer id
	outcome  outbox.Outcome
}

// outboxSim is the cluster-wide part of the outbox simulation: the sink,
// the deliveries and answers in flight, and its own PRNG (so the outbox's
// random choices do not shift the rest of the run's).
type outboxSim struct {
	rng    *rand.Rand
	sink   sink
	events []sinkEvent
	ready  []sinkEvent
	seq    uint64

	// Fault rates of the run (0 in the liveness phase).
	transientPct, lostReplyPct, ackLostPct float64
}

func newOutboxSim(seed uint64) *outboxSim {
	o := &outboxSim{rng: rand.New(rand.NewPCG(seed^0x0b0b0b0b, seed+0x5151))}
	o.sink.keys = map[wire.Uint128]*sinkEntry{}
	o.sink.transfers = map[wire.Uint128]int{}
	o.transientPct = []float64{0, 0.05, 0.2}[o.rng.IntN(3)]
	o.lostReplyPct = []float64{0, 0.05, 0.2}[o.rng.IntN(3)]
	o.ackLostPct = []float64{0, 0.05, 0.2}[o.rng.IntN(3)]
	return o
}

// heal stops the sink and ack faults (liveness phase).
func (o *outboxSim) heal() { o.transientPct, o.lostReplyPct, o.ackLostPct = 0, 0, 0 }

func (o *outboxSim) latency() uint64 { return 1 + o.rng.Uint64N(outboxLatencyMax) }

func (o *outboxSim) schedule(e sinkEvent) {
	o.seq++
	e.seq = o.seq
	o.events = append(o.events, e)
}

// outboxStep runs once per tick after the replicas ticked: deliveries and
// answers that are due, then every replica's dispatcher.
func (s *Sim) outboxStep() {
	o := s.outbox
	o.ready = o.ready[:0]
	kept := o.events[:0]
	for _, e := range o.events {
		if e.due <= s.now {
			o.ready = append(o.ready, e)
		} else {
			kept = append(kept, e)
		}
	}
	o.events = kept
	slices.SortFunc(o.ready, func(a, b sinkEvent) int { return cmp.Or(cmp.Compare(a.due, b.due), cmp.Compare(a.seq, b.seq)) })
	for _, e := range o.ready {
		if e.answer {
			h := s.hosts[e.host]
			h.disp.answer(h, e)
		} else {
			s.sinkReceive(e)
		}
		if s.err != nil {
			return
		}
	}
	for _, h := range s.hosts {
		h.dispatch()
		if s.err != nil {
			return
		}
	}
}

// sinkReceive hands a delivery to the sink and sends its answer back,
// unless a fault loses it.
func (s *Sim) sinkReceive(e sinkEvent) {
	o := s.outbox
	s.stats.Outbox.Delivered++
	transient := o.transientPct > 0 && o.rng.Float64() < o.transientPct
	out, ok := o.sink.deliver(e.id, e.view, e.transfer, transient, &s.stats.Outbox)
	if transient {
		s.stats.Faults[FaultSinkTransientFailure]++
	}
	if err := o.sink.check(e.id, e.transfer); err != nil {
		s.fail(err)
		return
	}
	if !ok {
		return // fenced: a newer primary owns the effect; no answer
	}
	if o.lostReplyPct > 0 && o.rng.Float64() < o.lostReplyPct {
		s.stats.Faults[FaultSinkLostReply]++
		s.trace.logf("outbox: answer to replica %d for %x (view %d attempt %d) lost", e.host, e.id.Lo, e.view, e.attempt)
		return
	}
	e.answer, e.outcome, e.due = true, out, s.now+o.latency()
	o.schedule(e)
}

// outboxDrained reports whether every effect was acknowledged on every
// replica and nothing is in flight to or from the sink.
func (s *Sim) outboxDrained() bool {
	if len(s.outbox.events) > 0 {
		return false
	}
	for _, h := range s.hosts {
		if !h.up || h.outbox.Len() > 0 {
			return false
		}
	}
	return true
}

// describeOutbox appends the outbox's state to a liveness report.
func (s *Sim) describeOutbox(b *strings.Builder) {
	fmt.Fprintf(b, "; outbox: %d in flight to/from the sink, open effects per replica:", len(s.outbox.events))
	for _, h := range s.hosts {
		if h.up {
			fmt.Fprintf(b, " %d (busy %d, acks %d)", h.outbox.Len(), len(h.disp.busy), len(h.disp.acks))
		} else {
			fmt.Fprintf(b, " down")
		}
	}
}
