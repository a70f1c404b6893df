package outbox

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/chronon-db/chronon/wire"
)

// DispatcherConfig configures a Dispatcher.
type DispatcherConfig struct {
	// Sink receives every delivery (use KindSink to route by kind).
	Sink Sink
	// Workers is the number of delivery goroutines; 0 means 4.
	Workers int
	// InFlightMax bounds deliveries handed out and not yet finished; 0
	// means 64. Offer accepts no more beyond it.
	InFlightMax int
	// AwaitingMax bounds attempts whose ack is ready or submitted but not
	// yet seen committed; 0 means 1024. Offer accepts nothing while full.
	AwaitingMax int
	// AttemptTimeout bounds one Deliver call; 0 means 30 s.
	AttemptTimeout time.Duration
	// AckTimeout is how long an attempt whose ack was handed to the loop
	// keeps its effect busy without the ack being seen committed (the ack
	// request may have been lost); after it the effect is dispatched
	// again. 0 means 30 s.
	AckTimeout time.Duration
	// ResultSizeMax truncates sink results; it must not exceed the
	// table's ResultSizeMax. 0 means DefaultResultSizeMax.
	ResultSizeMax int
	// Notify, if set, is called (from a worker goroutine, without locks
	// held) when acks become ready, so the node can wake its loop.
	Notify func()
	// Logger receives dispatch logs; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock for AckTimeout; nil means time.Now.
	Now func() time.Time
}

// Dispatcher delivers due effects on the primary. It runs beside the
// replica, outside its deterministic core: the node loop feeds it with
// Offer and drains it with Acks; workers call the Sink.
//
// Fencing: every delivery and ack carries the view it was offered in. The
// dispatcher remembers the highest view it has seen (from Offer, Acks or
// StepDown); whatever belongs to an older view is cancelled and dropped,
// so a result of view v never becomes an ack handed out in a view above v.
//
// All methods are safe for concurrent use and never block on a sink.
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

	jobs       chan *job
	rootCtx    context.Context
	rootCancel context.CancelFunc
	wg         sync.WaitGroup
}

// track is the dispatcher's memory of one effect it owns: in flight, or
// awaiting its ack's commit.
type track struct {
	view     uint32
	attempt  uint32
	awaiting bool
	deadline time.Time
}

type job struct {
	d   Delivery
	tr  *track
	ctx context.Context
}

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
	// InFlight and Awaiting are current gauges; View is the fence.
	InFlight, Awaiting int
	View               uint32
}

// NewDispatcher starts a dispatcher's workers. Close stops them.
func NewDispatcher(cfg DispatcherConfig) (*Dispatcher, error) {
	if cfg.Sink == nil {
		return nil, fmt.Errorf("%w: dispatcher needs a Sink", ErrConfig)
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
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
	if cfg.ResultSizeMax <= 0 {
		cfg.ResultSizeMax = DefaultResultSizeMax
	}
	if cfg.ResultSizeMax > SizeLimit {
		return nil, fmt.Errorf("%w: ResultSizeMax %d above %d", ErrConfig, cfg.ResultSizeMax, SizeLimit)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	d := &Dispatcher{
		cfg:    cfg,
		log:    cfg.Logger,
		tracks: make(map[wire.Uint128]*track),
		jobs:   make(chan *job, cfg.InFlightMax),
	}
	if d.log == nil {
		d.log = slog.Default()
	}
	d.rootCtx, d.rootCancel = context.WithCancel(context.Background())
	d.viewCtx, d.viewCancel = context.WithCancel(d.rootCtx)
	for range cfg.Workers {
		d.wg.Add(1)
		go d.worker()
	}
	return d, nil
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
			if !tr.awaiting || (e.Attempts < tr.attempt && now.Before(tr.deadline)) {
				continue
			}
			d.forgetLocked(e.ID, tr)
		}
		if d.inflight >= d.cfg.InFlightMax || d.awaiting >= d.cfg.AwaitingMax {
			break
		}
		tr := &track{view: view, attempt: e.Attempts + 1}
		d.tracks[e.ID] = tr
		d.inflight++
		d.stats.Dispatched++
		d.jobs <- &job{tr: tr, ctx: d.viewCtx, d: Delivery{
			ID: e.ID, Key: e.ID.String(), Token: view, Attempt: tr.attempt, Kind: e.Kind,
			Target:  append([]byte(nil), e.Target...),
			Payload: append([]byte(nil), e.Payload...),
		}}
		started++
	}
	return started
}

// Busy reports whether the dispatcher owns the effect: in flight, or its
// ack not yet seen committed and not timed out. Pass it to Table.Due as
// skip so Due returns effects the dispatcher can start.
func (d *Dispatcher) Busy(id wire.Uint128) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	tr, ok := d.tracks[id]
	return ok && (!tr.awaiting || d.cfg.Now().Before(tr.deadline))
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
	if view < d.view || len(d.ready) == 0 {
		return nil
	}
	size, n := ackBodyHeaderSize, 0
	for n < len(d.ready) && size+AckSize(&d.ready[n]) <= bodySizeMax {
		size += AckSize(&d.ready[n])
		n++
	}
	if n == 0 {
		return nil
	}
	out := make([]Ack, n)
	copy(out, d.ready)
	d.ready = append(d.ready[:0], d.ready[n:]...)
	return out
}

// Committed tells the dispatcher that an OperationOutboxAck body has been
// applied (call it after Table.ApplyAck, on any replica); the effects it
// acknowledged stop being busy at once rather than at AckTimeout. It
// ignores a malformed body.
func (d *Dispatcher) Committed(body []byte) {
	acks, err := DecodeAcks(nil, body, SizeLimit)
	if err != nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := range acks {
		if tr, ok := d.tracks[acks[i].ID]; ok && tr.awaiting && acks[i].Attempt >= tr.attempt {
			d.forgetLocked(acks[i].ID, tr)
		}
	}
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
	if d.awaiting == 0 {
		return
	}
	for id, tr := range d.tracks { // order does not matter
		if tr.awaiting && !now.Before(tr.deadline) {
			d.forgetLocked(id, tr)
		}
	}
}

// Stats returns the dispatcher's counters.
func (d *Dispatcher) Stats() DispatcherStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.stats
	s.InFlight, s.Awaiting, s.View = d.inflight, d.awaiting, d.view
	return s
}

// Close cancels deliveries in flight and waits for the workers to return,
// or for ctx.
func (d *Dispatcher) Close(ctx context.Context) error {
	d.mu.Lock()
	if !d.closed {
		d.closed = true
		d.rootCancel()
		close(d.jobs)
	}
	d.mu.Unlock()
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("outbox: closing dispatcher: %w", ctx.Err())
	}
}
