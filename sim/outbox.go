package sim

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/chronon-db/chronon/ledger"
	"github.com/chronon-db/chronon/outbox"
)

// The outbox simulation: every replica holds an outbox.Table, the ledger
// emits one effect per created transfer, every replica runs the product's
// outbox.Dispatcher (its Step is the dispatch policy node runs) over a
// simulated transport (outbox_dispatch.go) that carries each attempt
// through the product's HTTPSink to the product's outbox.Receiver on an
// in-memory store (outbox_sink.go), and the answers come back as acks
// committed through consensus. See docs/simulator.md, "The outbox".

// Outbox simulation parameters (in ticks of 10 ms unless noted).
const (
	// outboxEffectsMax is every table's capacity but in the seeds
	// configureAdmission gives a small one.
	outboxEffectsMax = 2048
	// outboxDueMax bounds the effects one dispatcher takes per tick.
	outboxDueMax = 16
	// outboxAckTimeout is how long a delivered effect stays busy without a
	// committed ack before it is dispatched again.
	outboxAckTimeout = 60
	// outboxAttemptTimeout bounds one attempt: an answer lost on the way
	// back completes the attempt with a timeout after it.
	outboxAttemptTimeout = 20
	// outboxLatencyMax bounds the one-way latency to and from the sink.
	outboxLatencyMax = 5
)

// outboxTarget is the target of the ledger's effects: the receiver's URL
// (the simulated HTTP client never leaves the process).
var outboxTarget = []byte("http://receiver.sim/effects")

// outboxConfig is the table configuration of every replica of s (the same
// everywhere: it shapes replicated state). Backoffs are short so that
// retries fit the run: 100 ms (10 ticks) to 1 s.
func (s *Sim) outboxConfig() outbox.Config {
	return outbox.Config{
		Cluster:        s.cluster,
		EffectsMax:     s.outbox.effectsMax,
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
	Emitted       uint64 // effects committed (the highest emitted count of any replica's table)
	Dispatched    uint64 // attempts started by a primary's dispatcher
	Delivered     uint64 // attempts that reached the receiver (requests)
	Applied       uint64 // effects the receiver's handler applied
	Deduplicated  uint64 // requests the receiver answered from its store (Chronon-Replayed)
	Fenced        uint64 // requests the receiver rejected for a stale token (409)
	Dropped       uint64 // outcomes the dispatcher dropped (view superseded, dispatcher closed by a crash)
	AcksSubmitted uint64 // acks the dispatchers handed to SubmitLocal and the replica took
	AcksCommitted uint64 // attempts released by a committed ack
	// DuplicateApplications counts applications of a key (or transfer)
	// beyond its first: an effects_duplicate violation, 0 in a passing run.
	DuplicateApplications uint64
	// NonPrimaryDeliveries counts attempts started by a replica that was
	// not the normal primary of its view, or with a token other than that
	// view: a dispatch_not_primary violation, 0 in a passing run.
	NonPrimaryDeliveries uint64
	// OpenMax is the most effects a table held open at once (the maximum
	// over runs when stats are added).
	OpenMax uint64
	// OutboxFull counts transfers clients saw answered outbox_full;
	// AdmissionHeld and AdmissionExpired sum replica.Counters'
	// AdmissionHeld and AdmissionExpired over every replica instance.
	OutboxFull, AdmissionHeld, AdmissionExpired uint64
}

func (o *OutboxStats) add(p *OutboxStats) {
	o.Emitted += p.Emitted
	o.Dispatched += p.Dispatched
	o.Delivered += p.Delivered
	o.Applied += p.Applied
	o.Deduplicated += p.Deduplicated
	o.Fenced += p.Fenced
	o.Dropped += p.Dropped
	o.AcksSubmitted += p.AcksSubmitted
	o.AcksCommitted += p.AcksCommitted
	o.DuplicateApplications += p.DuplicateApplications
	o.NonPrimaryDeliveries += p.NonPrimaryDeliveries
	o.OpenMax = max(o.OpenMax, p.OpenMax)
	o.OutboxFull += p.OutboxFull
	o.AdmissionHeld += p.AdmissionHeld
	o.AdmissionExpired += p.AdmissionExpired
}

// sinkEvent is an attempt on its way to the receiver or its outcome on its
// way back to the dispatcher that started it.
type sinkEvent struct {
	due, seq uint64
	answer   bool
	// start is the tick the attempt started (for the attempt timeout).
	start   uint64
	attempt *outbox.Attempt
	via     *simTransport
	result  []byte
	err     error
}

// outboxSim is the cluster-wide part of the outbox simulation: the
// receiver, the attempts and outcomes in flight, and its own PRNG (so the
// outbox's random choices do not shift the rest of the run's).
type outboxSim struct {
	rng    *rand.Rand
	sink   *sink
	events []sinkEvent
	ready  []sinkEvent
	seq    uint64

	// Fault rates of the run (0 in the liveness phase).
	transientPct, lostReplyPct, ackLostPct, receiverCrashPct float64

	// effectsMax is every table's capacity; admitAbove and admitWaitTicks
	// are the admission of every replica (outbox.Machine.SetAdmission,
	// replica.Config.AdmissionWaitTicks; 0: off).
	effectsMax     int
	admitAbove     int
	admitWaitTicks uint64
}

func newOutboxSim(opts Options) *outboxSim {
	seed := opts.Seed
	o := &outboxSim{rng: rand.New(rand.NewPCG(seed^0x0b0b0b0b, seed+0x5151))}
	o.configureAdmission(opts)
	o.sink = newSink(func() bool { return o.transientPct > 0 && o.rng.Float64() < o.transientPct })
	o.transientPct = []float64{0, 0.05, 0.2}[o.rng.IntN(3)]
	o.lostReplyPct = []float64{0, 0.05, 0.2}[o.rng.IntN(3)]
	o.ackLostPct = []float64{0, 0.05, 0.2}[o.rng.IntN(3)]
	o.receiverCrashPct = []float64{0, 0.005, 0.02}[o.rng.IntN(3)]
	return o
}

// configureAdmission chooses the run's table capacity and admission from
// the seed, with a PRNG of its own (the other streams do not shift).
// Admission is on as node runs it by default: above 50 % of the table, a
// wait of at most 5 s (500 ticks). Half the seeds keep the large table,
// which the simulated sink never fills; the others get a table of 4, 8 or
// 16 effects, which the clients fill whenever the sink or the acks lag, and
// a third of those a wait of 60 ticks, so that held requests are also
// prepared into a full table and answered outbox_full.
func (o *outboxSim) configureAdmission(opts Options) {
	rng := rand.New(rand.NewPCG(opts.Seed^0xad1e, opts.Seed+0x0f11))
	o.effectsMax = outboxEffectsMax
	if rng.IntN(2) == 1 {
		o.effectsMax = []int{4, 8, 16}[rng.IntN(3)]
	}
	if opts.NoAdmission {
		return
	}
	o.admitAbove, o.admitWaitTicks = 50, 500
	if o.effectsMax < outboxEffectsMax && rng.IntN(3) == 0 {
		o.admitWaitTicks = 60
	}
}

// heal stops the sink, ack and receiver faults (liveness phase).
func (o *outboxSim) heal() {
	o.transientPct, o.lostReplyPct, o.ackLostPct, o.receiverCrashPct = 0, 0, 0, 0
	o.sink.file.armed = false
}

func (o *outboxSim) latency() uint64 { return 1 + o.rng.Uint64N(outboxLatencyMax) }

func (o *outboxSim) schedule(e sinkEvent) {
	o.seq++
	e.seq = o.seq
	o.events = append(o.events, e)
}

// outboxStep runs once per tick after the replicas ticked: attempts and
// outcomes that are due, then every replica's dispatcher (Step).
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
	clear(o.events[len(kept):])
	o.events = kept
	slices.SortFunc(o.ready, func(a, b sinkEvent) int { return cmp.Or(cmp.Compare(a.due, b.due), cmp.Compare(a.seq, b.seq)) })
	for _, e := range o.ready {
		if e.answer {
			e.via.complete(e)
		} else {
			s.sinkReceive(e)
		}
		if s.err != nil {
			return
		}
	}
	clear(o.ready)
	for _, h := range s.hosts {
		if h.up {
			s.stats.Outbox.Emitted = max(s.stats.Outbox.Emitted, h.outbox.Stats().Emitted)
			s.stats.Outbox.OpenMax = max(s.stats.Outbox.OpenMax, uint64(h.outbox.Len()))
		}
		h.dispatch()
		if s.err != nil {
			return
		}
	}
}

// sinkReceive delivers an attempt to the receiver through the product's
// HTTPSink and sends the outcome back, unless a fault loses it: then the
// attempt times out.
func (s *Sim) sinkReceive(e sinkEvent) {
	o := s.outbox
	s.stats.Outbox.Delivered++
	if o.receiverCrashPct > 0 && o.rng.Float64() < o.receiverCrashPct {
		if o.rng.IntN(2) == 0 {
			s.restartReceiver("between requests")
		} else {
			o.sink.file.armed = true
		}
	}
	result, err := o.sink.deliver(e.attempt.Delivery, &s.stats)
	if o.sink.file.crashed {
		s.restartReceiver("inside the fsync of a fence record")
	}
	if err := o.sink.check(e.attempt.ID); err != nil {
		s.stats.Outbox.DuplicateApplications++
		s.fail(err)
		return
	}
	if o.lostReplyPct > 0 && o.rng.Float64() < o.lostReplyPct {
		s.stats.Faults[FaultSinkLostReply]++
		s.trace.logf("outbox: answer to replica %d for %x (token %d attempt %d) lost", e.via.h.index, e.attempt.ID.Lo, e.attempt.Token, e.attempt.Attempt)
		e.answer, e.result, e.err = true, nil, context.DeadlineExceeded
		e.due = max(e.start+outboxAttemptTimeout, s.now+1)
		o.schedule(e)
		return
	}
	e.answer, e.result, e.err, e.due = true, result, err, s.now+o.latency()
	o.schedule(e)
}

// restartReceiver crashes the receiver and opens a new one on its store,
// which keeps what was synced and a random prefix of the rest (a torn
// tail, which recovery must drop).
func (s *Sim) restartReceiver(why string) {
	o := s.outbox
	s.stats.Faults[FaultReceiverCrash]++
	torn := o.sink.file.crash(o.rng)
	s.trace.logf("outbox: receiver crashed %s (%d torn bytes)", why, torn)
	if err := o.sink.reopen(); err != nil {
		s.fail(violation(InvariantEffectsLost, "receiver did not recover its store: %v", err))
	}
}

// outboxDrained reports whether every effect was acknowledged on every
// replica and nothing is in flight to or from the receiver.
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
	fmt.Fprintf(b, "; outbox: %d in flight to/from the receiver, open effects per replica:", len(s.outbox.events))
	for _, h := range s.hosts {
		switch {
		case !h.up:
			fmt.Fprintf(b, " down")
		case h.disp.d == nil:
			fmt.Fprintf(b, " %d (no dispatcher)", h.outbox.Len())
		default:
			st := h.disp.d.Stats()
			fmt.Fprintf(b, " %d (view %d in flight %d awaiting %d)", h.outbox.Len(), st.View, st.InFlight, st.Awaiting)
		}
	}
}
