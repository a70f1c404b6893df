package outbox

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/chronon-db/chronon/wire"
)

// DispatcherConfig configures a Dispatcher.
type DispatcherConfig struct {
	// Sink receives every delivery (use KindSink to route by kind) when
	// Transport is nil.
	Sink Sink
	// Transport carries the attempts to the sink; nil means Workers
	// goroutines calling Sink (the node). The simulator passes its own,
	// deterministic one.
	Transport Transport
	// Workers is the number of delivery goroutines of the default
	// transport (the concurrency towards the sink); 0 means 4.
	Workers int
	// BatchMax bounds the deliveries one worker of the default transport
	// hands a BatchSink in one DeliverBatch call; 0 means 64. Sinks that
	// are not a BatchSink get one delivery per call.
	BatchMax int
	// InFlightMax bounds deliveries handed out and not yet finished; 0
	// means 64. Offer accepts no more beyond it.
	InFlightMax int
	// AwaitingMax bounds attempts whose ack is ready or submitted but not
	// yet seen committed; 0 means 1024. Offer accepts nothing while full.
	AwaitingMax int
	// AttemptTimeout bounds one attempt (one Deliver call of the default
	// transport); 0 means 30 s.
	AttemptTimeout time.Duration
	// AckTimeout is how long an attempt whose ack was submitted keeps its
	// effect busy without the ack being seen committed (the ack request
	// may have been lost); after it the effect is dispatched again. With
	// AckTimeoutMin set it is the upper bound of the adaptive timeout.
	// 0 means 30 s.
	AckTimeout time.Duration
	// AckTimeoutMin, when set (below AckTimeout), makes the ack timeout
	// adapt to the measured time from submitting an ack to seeing it
	// committed: AckTimeoutFactor times its p99 over the last
	// ackSamples acks, within [AckTimeoutMin, AckTimeout]; AckTimeout
	// until enough acks were measured. 0 means a fixed AckTimeout.
	AckTimeoutMin time.Duration
	// AckTimeoutFactor multiplies the measured p99; 0 means 8.
	AckTimeoutFactor int
	// ResultSizeMax truncates sink results; it must not exceed the
	// table's ResultSizeMax. 0 means DefaultResultSizeMax.
	ResultSizeMax int
	// DueMax bounds the effects one Step takes from the table; 0 means 64.
	DueMax int
	// AckBodySizeMax bounds the ack body one Step submits; it must not
	// exceed what Replica.SubmitLocal takes. 0 means 64 KiB.
	AckBodySizeMax int
	// Notify, if set, is called (from a worker goroutine, without locks
	// held) when acks become ready, so the node can wake its loop.
	Notify func()
	// Logger receives dispatch logs; nil means slog.Default().
	Logger *slog.Logger
	// Now is the dispatcher's clock: for AckTimeout and, in Step, for
	// Table.Due (it must be the clock of the replica's prepare timestamps).
	// nil means time.Now.
	Now func() time.Time
}

// Transport carries a Dispatcher's attempts to the sink: the goroutines
// and I/O of dispatching live behind it, every decision (when, what, with
// which token, what becomes an ack) in the Dispatcher.
type Transport interface {
	// Start begins delivering a and returns without waiting (it is called
	// with the dispatcher's lock held: it must not call back into the
	// dispatcher). The outcome must come back exactly once through
	// Dispatcher.Complete, from any goroutine, at the latest about
	// AttemptTimeout after Start (with a context error then); a transport
	// that is closed may drop it.
	Start(a *Attempt)
	// Close stops the transport, waiting for ctx at most.
	Close(ctx context.Context) error
}

// Attempt is one delivery handed to a Transport.
type Attempt struct {
	Delivery
	// Ctx is cancelled when the attempt's view is superseded or the
	// dispatcher closes; a transport passes it to the sink.
	Ctx     context.Context
	tr      *track
	started time.Time
}

// LatencyBounds are the upper bounds of DispatcherStats.Latency's buckets.
var LatencyBounds = [...]time.Duration{
	250 * time.Microsecond, 500 * time.Microsecond, time.Millisecond, 2 * time.Millisecond,
	5 * time.Millisecond, 10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond, time.Second,
	2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
}

// Replica is what Step needs from the replica the dispatcher runs beside;
// *replica.Replica implements it.
type Replica interface {
	// View is the replica's current view.
	View() uint32
	// IsPrimary reports whether the replica is the primary of View.
	IsPrimary() bool
	// Normal reports whether the replica's status is normal.
	Normal() bool
	// SubmitLocal queues a local request (here: an outbox_ack request with
	// body, which a Machine declares local-only) for the next prepare;
	// false if refused.
	SubmitLocal(operation wire.Operation, body []byte) bool
}

// Dispatcher delivers due effects on the primary. It runs beside the
// replica, outside its deterministic core: the loop that owns the replica
// calls Step (the dispatch policy: Offer, Acks, SubmitLocal, StepDown); a
// Transport carries the attempts to the sink and hands their outcomes back
// with Complete. The node and the simulator run this same code; only the
// transport and the clock differ.
//
// Fencing: every delivery and ack carries the view it was offered in. The
// dispatcher remembers the highest view it has seen (from Offer, Acks or
// StepDown); whatever belongs to an older view is cancelled and dropped,
// so a result of view v never becomes an ack handed out in a view above v.
//
// All methods but Step are safe for concurrent use and never block on a
// sink; Step must be called from the goroutine that owns the replica and
// the table.
type Dispatcher struct {
	cfg DispatcherConfig
	log *slog.Logger

	mu         sync.Mutex
	closed     bool
	view       uint32
	viewCtx    context.Context
	viewCancel context.CancelFunc
	tracks     map[wire.Uint128]*track
	inflight   int
	awaiting   int
	ready      []Ack
	stats      DispatcherStats

	// The adaptive ack timeout: the last ackSamples submit-to-commit
	// times, and the timeout they give (AckTimeout until measured).
	ackTimeout time.Duration
	ackLat     [ackSamples]time.Duration
	ackLatN    int
	ackLatSort [ackSamples]time.Duration
	// nextExpire is the earliest ack deadline (zero: none), so Offer scans
	// the tracks for expired acks only when one is due.
	nextExpire time.Time

	transport  Transport
	rootCtx    context.Context
	rootCancel context.CancelFunc

	// Step's scratch space (Step runs on one goroutine): skip is
	// busyLocked at stepNow, for Table.Due under the lock.
	due     []Effect
	skip    func(wire.Uint128) bool
	stepNow time.Time
	acks    []Ack
	body    []byte
}

// track is the dispatcher's memory of one effect it owns: in flight, or
// awaiting its ack's commit.
type track struct {
	view    uint32
	attempt uint32
	// awaiting: the outcome is a ready ack (submitted or not).
	awaiting bool
	// submitted: the ack was handed to the replica at submittedAt; the
	// effect is busy until deadline. An awaiting ack not yet submitted
	// (refused, or waiting for room in a body) keeps its effect busy.
	submitted   bool
	submittedAt time.Time
	deadline    time.Time
}

// busy reports whether the track still owns its effect at now.
func (tr *track) busy(now time.Time) bool {
	return !tr.awaiting || !tr.submitted || now.Before(tr.deadline)
}

// ackSamples is how many ack commit times the adaptive ack timeout keeps.
const ackSamples = 256

// DispatcherStats are counters since the dispatcher started.
type DispatcherStats struct {
	// Dispatched counts deliveries started.
	Dispatched uint64
	// Done, Retry, Failed count outcomes turned into acks.
	Done, Retry, Failed uint64
	// Fenced counts attempts the sink answered as fenced (no ack).
	Fenced uint64
	// Dropped counts results discarded because their view was superseded.
	Dropped uint64
	// AcksSubmitted counts acks Step handed to Replica.SubmitLocal and the
	// replica took; AcksRefused those it refused (kept ready and submitted
	// again by a later Step; an ack is counted at each refusal).
	AcksSubmitted, AcksRefused uint64
	// AcksCommitted counts attempts released by a committed ack
	// (Committed); AcksExpired those whose ack was not seen committed
	// within the ack timeout (their effects are dispatched again).
	AcksCommitted, AcksExpired uint64
	// AckTimeout is the ack timeout in use (adaptive with AckTimeoutMin).
	AckTimeout time.Duration
	// Latency counts finished deliveries (Complete) by how long the sink
	// took, from Offer to Complete: bucket i counts those of at most
	// LatencyBounds[i], the last bucket the rest.
	Latency [len(LatencyBounds) + 1]uint64
	// LatencySum is the total time of the deliveries counted in Latency.
	LatencySum time.Duration
	// RetryTimeout and RetryOther split Retry: attempts that ran out of
	// time (context deadline) and the other transient failures.
	RetryTimeout, RetryOther uint64
	// InFlight and Awaiting are current gauges; View is the fence.
	InFlight, Awaiting int
	View               uint32
}

// NewDispatcher makes a dispatcher and starts its transport's workers.
// Close stops them.
func NewDispatcher(cfg DispatcherConfig) (*Dispatcher, error) {
	if cfg.Sink == nil && cfg.Transport == nil {
		return nil, fmt.Errorf("%w: dispatcher needs a Sink or a Transport", ErrConfig)
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.BatchMax <= 0 {
		cfg.BatchMax = 64
	}
	if cfg.AckTimeoutFactor <= 0 {
		cfg.AckTimeoutFactor = 8
	}
	if cfg.InFlightMax <= 0 {
		cfg.InFlightMax = 64
	}
	if cfg.AwaitingMax <= 0 {
		cfg.AwaitingMax = 1024
	}
	if cfg.AttemptTimeout <= 0 {
		cfg.AttemptTimeout = 30 * time.Second
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = 30 * time.Second
	}
	if cfg.AckTimeoutMin < 0 || cfg.AckTimeoutMin > cfg.AckTimeout {
		return nil, fmt.Errorf("%w: AckTimeoutMin %v outside [0, AckTimeout %v]", ErrConfig, cfg.AckTimeoutMin, cfg.AckTimeout)
	}
	if cfg.ResultSizeMax <= 0 {
		cfg.ResultSizeMax = DefaultResultSizeMax
	}
	if cfg.ResultSizeMax > SizeLimit {
		return nil, fmt.Errorf("%w: ResultSizeMax %d above %d", ErrConfig, cfg.ResultSizeMax, SizeLimit)
	}
	if cfg.DueMax <= 0 {
		cfg.DueMax = 64
	}
	if cfg.AckBodySizeMax <= 0 {
		cfg.AckBodySizeMax = 64 << 10
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	d := &Dispatcher{
		cfg:        cfg,
		log:        cfg.Logger,
		tracks:     make(map[wire.Uint128]*track),
		due:        make([]Effect, 0, cfg.DueMax),
		ackTimeout: cfg.AckTimeout,
	}
	if d.log == nil {
		d.log = slog.Default()
	}
	d.skip = d.busyLocked
	d.rootCtx, d.rootCancel = context.WithCancel(context.Background())
	d.viewCtx, d.viewCancel = context.WithCancel(d.rootCtx)
	d.transport = cfg.Transport
	if d.transport == nil {
		d.transport = startWorkers(d, cfg.Sink, cfg.Workers, cfg.InFlightMax, cfg.BatchMax, cfg.AttemptTimeout)
	}
	return d, nil
}

// Step runs the dispatch policy once; the loop that owns r and tbl calls
// it every tick and after Notify:
//   - a view of r above the one the dispatcher works in steps it down
//     first (StepDown), so nothing of an older view is acknowledged;
//   - only while r is the primary of its view with status normal: it takes
//     up to DueMax due effects (Table.Due at Now, skipping Busy ones) and
//     offers them with r's view as the fencing token (Offer), then submits
//     the ready acks of that view, as many as fit in AckBodySizeMax, as one
//     outbox_ack request (Replica.SubmitLocal). Acks the replica refuses
//     (its request queue is full) stay ready, first in line, and their
//     effects busy: the next Step submits them again.
func (d *Dispatcher) Step(r Replica, tbl *Table) {
	v := r.View()
	d.mu.Lock()
	if v > d.view {
		d.stepDownLocked(v)
	}
	d.mu.Unlock()
	if !r.Normal() || !r.IsPrimary() {
		return
	}
	// Take no more than there is room for, and nothing when full: the
	// scan of the table runs on the replica's loop.
	d.mu.Lock()
	room := min(d.cfg.DueMax, d.cfg.InFlightMax-d.inflight)
	if d.awaiting >= d.cfg.AwaitingMax || d.closed {
		room = 0
	}
	d.due = d.due[:0]
	if room > 0 {
		d.stepNow = d.cfg.Now()
		d.due = tbl.Due(d.due, uint64(d.stepNow.UnixNano()), room, d.skip)
	}
	d.mu.Unlock()
	d.Offer(v, d.due)
	clear(d.due) // drop references to the table's bytes
	for {
		d.mu.Lock()
		d.acks = d.takeAcksLocked(d.acks[:0], v, d.cfg.AckBodySizeMax, d.cfg.Now())
		d.mu.Unlock()
		if len(d.acks) == 0 {
			return
		}
		d.body = AppendAckBody(d.body[:0], d.acks)
		ok := r.SubmitLocal(wire.OperationOutboxAck, d.body)
		d.mu.Lock()
		if ok {
			d.stats.AcksSubmitted += uint64(len(d.acks))
		} else {
			d.stats.AcksRefused += uint64(len(d.acks))
			d.unsubmitLocked(v)
		}
		d.mu.Unlock()
		clear(d.acks)
		if !ok {
			return
		}
	}
}

// Offer hands the dispatcher due effects (from Table.Due) while this
// replica is the primary of view with status normal. Effects it already
// owns are skipped, unless their ack timed out or the table shows that
// attempt acknowledged; the rest start, up to InFlightMax in flight, in
// the given order. It copies what it keeps and returns the number started.
// An Offer for a view below the highest seen starts nothing; a higher view
// steps down from the older ones first.
func (d *Dispatcher) Offer(view uint32, effects []Effect) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed || view < d.view {
		return 0
	}
	if view > d.view {
		d.stepDownLocked(view)
	}
	now := d.cfg.Now()
	d.expireLocked(now)
	started := 0
	for i := range effects {
		e := &effects[i]
		if tr, ok := d.tracks[e.ID]; ok {
			if !tr.awaiting || (e.Attempts < tr.attempt && tr.busy(now)) {
				continue
			}
			d.forgetLocked(e.ID, tr)
		}
		if d.inflight >= d.cfg.InFlightMax || d.awaiting >= d.cfg.AwaitingMax {
			break
		}
		// One allocation for the attempt and its track, one for the
		// target and payload bytes, one for the key.
		box := &attemptBox{tr: track{view: view, attempt: e.Attempts + 1}}
		d.tracks[e.ID] = &box.tr
		d.inflight++
		d.stats.Dispatched++
		b := make([]byte, len(e.Target)+len(e.Payload))
		copy(b, e.Target)
		copy(b[len(e.Target):], e.Payload)
		box.a = Attempt{tr: &box.tr, Ctx: d.viewCtx, started: now, Delivery: Delivery{
			ID: e.ID, Key: effectKey(e.ID), Token: view, Attempt: box.tr.attempt, Kind: e.Kind,
			Target:  b[:len(e.Target):len(e.Target)],
			Payload: b[len(e.Target):],
		}}
		d.transport.Start(&box.a)
		started++
	}
	return started
}

// attemptBox holds an attempt and its track in one allocation.
type attemptBox struct {
	a  Attempt
	tr track
}

// effectKey is id.String() (32 lowercase hex digits, Hi first) without
// fmt.
func effectKey(id wire.Uint128) string {
	const digits = "0123456789abcdef"
	var b [32]byte
	for i := range 16 {
		b[15-i] = digits[(id.Hi>>(4*i))&0xf]
		b[31-i] = digits[(id.Lo>>(4*i))&0xf]
	}
	return string(b[:])
}

// Busy reports whether the dispatcher owns the effect: in flight, or its
// ack not yet seen committed and not timed out. Pass it to Table.Due as
// skip so Due returns effects the dispatcher can start.
func (d *Dispatcher) Busy(id wire.Uint128) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	tr, ok := d.tracks[id]
	return ok && tr.busy(d.cfg.Now())
}

// busyLocked is Busy at stepNow, with the lock held (Step's Table.Due).
func (d *Dispatcher) busyLocked(id wire.Uint128) bool {
	tr, ok := d.tracks[id]
	return ok && tr.busy(d.stepNow)
}

// Acks removes and returns ready acks of view, as many as fit in an ack
// body of bodySizeMax bytes (at least one if any is ready and fits
// alone), in completion order. The loop encodes them with AppendAckBody and
// submits them as an OperationOutboxAck request, in view, as the
// primary's internal client. Acks of a view other than the highest seen
// are never returned; a higher view steps down first.
func (d *Dispatcher) Acks(view uint32, bodySizeMax int) []Ack {
	d.mu.Lock()
	defer d.mu.Unlock()
	if view > d.view {
		d.stepDownLocked(view)
	}
	out := d.takeAcksLocked(nil, view, bodySizeMax, d.cfg.Now())
	if len(out) == 0 {
		return nil
	}
	return out
}

// takeAcksLocked moves the ready acks of view that fit in bodySizeMax to
// dst and marks them submitted at now: their effects stay busy until the
// ack timeout.
func (d *Dispatcher) takeAcksLocked(dst []Ack, view uint32, bodySizeMax int, now time.Time) []Ack {
	if view < d.view || len(d.ready) == 0 {
		return dst
	}
	size, n := ackBodyHeaderSize, 0
	for n < len(d.ready) && size+AckSize(&d.ready[n]) <= bodySizeMax {
		size += AckSize(&d.ready[n])
		n++
	}
	start := len(dst)
	dst = append(dst, d.ready[:n]...)
	m := copy(d.ready, d.ready[n:])
	clear(d.ready[m:])
	d.ready = d.ready[:m]
	for i := start; i < len(dst); i++ {
		if tr := d.trackOfLocked(&dst[i]); tr != nil {
			tr.submitted, tr.submittedAt, tr.deadline = true, now, now.Add(d.ackTimeout)
			if d.nextExpire.IsZero() || tr.deadline.Before(d.nextExpire) {
				d.nextExpire = tr.deadline
			}
		}
	}
	return dst
}

// unsubmitLocked puts the acks Step took (d.acks) back in front of the
// ready ones after the replica refused them, unless view was superseded
// meanwhile (then they are dropped like every ack of an older view).
func (d *Dispatcher) unsubmitLocked(view uint32) {
	if view < d.view || d.closed {
		d.stats.Dropped += uint64(len(d.acks))
		return
	}
	for i := range d.acks {
		if tr := d.trackOfLocked(&d.acks[i]); tr != nil {
			tr.submitted = false
		}
	}
	d.ready = slices.Insert(d.ready, 0, d.acks...)
}

// trackOfLocked returns the awaiting track an ack was made from, or nil
// if the dispatcher forgot it (step-down).
func (d *Dispatcher) trackOfLocked(a *Ack) *track {
	tr, ok := d.tracks[a.ID]
	if !ok || !tr.awaiting || tr.view != a.View || tr.attempt != a.Attempt {
		return nil
	}
	return tr
}

// Committed tells the dispatcher that an OperationOutboxAck body has been
// applied (call it after Table.ApplyAck, on any replica); the effects it
// acknowledged stop being busy at once rather than at AckTimeout. It
// ignores a malformed body.
func (d *Dispatcher) Committed(body []byte) {
	// Two passes over the body with a cursor (no allocation): the first
	// rejects a malformed body whole.
	var c ackCursor
	if c.start(body, SizeLimit) != "" {
		return
	}
	for {
		var a Ack
		done, p := c.next(&a)
		if p != "" {
			return
		}
		if done {
			break
		}
	}
	c.start(body, SizeLimit)
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.cfg.Now()
	for {
		var a Ack
		if done, _ := c.next(&a); done {
			return
		}
		if tr, ok := d.tracks[a.ID]; ok && tr.awaiting && a.Attempt >= tr.attempt {
			if tr.submitted {
				d.sampleAckLocked(now.Sub(tr.submittedAt))
			}
			d.forgetLocked(a.ID, tr)
			d.stats.AcksCommitted++
		}
	}
}

// sampleAckLocked records one submit-to-commit time and, every
// ackSamples/8 samples, recomputes the adaptive ack timeout from their
// p99 (only with AckTimeoutMin set).
func (d *Dispatcher) sampleAckLocked(t time.Duration) {
	if d.cfg.AckTimeoutMin <= 0 {
		return
	}
	d.ackLat[d.ackLatN%ackSamples] = max(t, 0)
	d.ackLatN++
	if d.ackLatN < ackSamples || d.ackLatN%(ackSamples/8) != 0 {
		return
	}
	s := d.ackLatSort[:]
	copy(s, d.ackLat[:])
	slices.Sort(s)
	p99 := s[len(s)*99/100]
	d.ackTimeout = min(max(p99*time.Duration(d.cfg.AckTimeoutFactor), d.cfg.AckTimeoutMin), d.cfg.AckTimeout)
}

// StepDown fences the dispatcher at view: call it with the new view as
// soon as the replica learns of a view above the one it dispatched in (a
// start_view_change, do_view_change or start_view of a higher view), or
// when it stops being primary for any reason. Deliveries of older views
// are cancelled, their results and ready acks dropped, and the effects
// forgotten, so a new primary's re-dispatch (with a higher token) is the
// only one that can be acknowledged.
func (d *Dispatcher) StepDown(view uint32) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stepDownLocked(view)
}

func (d *Dispatcher) stepDownLocked(view uint32) {
	if view > d.view {
		d.view = view
		d.viewCancel()
		d.viewCtx, d.viewCancel = context.WithCancel(d.rootCtx)
	}
	for id, tr := range d.tracks { // order does not matter
		if tr.view < view {
			d.forgetLocked(id, tr)
		}
	}
	kept := d.ready[:0]
	for _, a := range d.ready {
		if a.View >= view {
			kept = append(kept, a)
		} else {
			d.stats.Dropped++
		}
	}
	clear(d.ready[len(kept):])
	d.ready = kept
}

// forgetLocked deletes a track; an in-flight one still counts against
// InFlightMax until its worker returns.
func (d *Dispatcher) forgetLocked(id wire.Uint128, tr *track) {
	if tr.awaiting {
		d.awaiting--
	}
	delete(d.tracks, id)
}

// expireLocked forgets awaiting tracks whose ack timed out.
func (d *Dispatcher) expireLocked(now time.Time) {
	if d.awaiting == 0 || d.nextExpire.IsZero() || now.Before(d.nextExpire) {
		return
	}
	d.nextExpire = time.Time{}
	for id, tr := range d.tracks { // order does not matter
		switch {
		case !tr.busy(now):
			d.forgetLocked(id, tr)
			d.stats.AcksExpired++
		case tr.awaiting && tr.submitted && (d.nextExpire.IsZero() || tr.deadline.Before(d.nextExpire)):
			d.nextExpire = tr.deadline
		}
	}
}

// Stats returns the dispatcher's counters.
func (d *Dispatcher) Stats() DispatcherStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.stats
	s.InFlight, s.Awaiting, s.View, s.AckTimeout = d.inflight, d.awaiting, d.view, d.ackTimeout
	return s
}

// Close cancels deliveries in flight (their results are dropped) and
// closes the transport, waiting for its workers to return, or for ctx.
func (d *Dispatcher) Close(ctx context.Context) error {
	d.mu.Lock()
	if !d.closed {
		d.closed = true
		d.rootCancel()
	}
	d.mu.Unlock()
	if err := d.transport.Close(ctx); err != nil {
		return fmt.Errorf("outbox: closing dispatcher: %w", err)
	}
	return nil
}
