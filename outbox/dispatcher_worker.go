package outbox

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// workers is the default Transport: goroutines calling a Sink, each
// attempt bounded by the attempt timeout and its context. With a BatchSink
// a worker takes every queued attempt of the same view and target, up to
// batchMax, and delivers them in one DeliverBatch call.
type workers struct {
	d        *Dispatcher
	sink     Sink
	batch    BatchSink // sink as a BatchSink, or nil
	batchMax int
	timeout  time.Duration
	jobs     chan *Attempt
	wg       sync.WaitGroup

	mu     sync.Mutex
	closed bool
}

// startWorkers starts n goroutines delivering d's attempts to sink. The
// queue holds inFlightMax attempts: the dispatcher never has more in
// flight, so Start never blocks.
func startWorkers(d *Dispatcher, sink Sink, n, inFlightMax, batchMax int, timeout time.Duration) *workers {
	w := &workers{d: d, sink: sink, batchMax: batchMax, timeout: timeout, jobs: make(chan *Attempt, inFlightMax)}
	if b, ok := sink.(BatchSink); ok && batchMax > 1 {
		w.batch = b
	}
	for range n {
		w.wg.Add(1)
		if w.batch != nil {
			go w.runBatches()
		} else {
			go w.run()
		}
	}
	return w
}

// Start queues a for a worker.
func (w *workers) Start(a *Attempt) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return // Close cancelled it; nothing will be acknowledged
	}
	w.jobs <- a
}

// Close stops the workers after the queued attempts (cancelled by the
// dispatcher's Close) and waits for them, or for ctx.
func (w *workers) Close(ctx context.Context) error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.jobs)
	}
	w.mu.Unlock()
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run delivers attempts one by one until Close.
func (w *workers) run() {
	defer w.wg.Done()
	for a := range w.jobs {
		result, err := w.deliver(a)
		w.d.Complete(a, result, err)
	}
}

// runBatches delivers batches of attempts until Close: it waits for one
// attempt, then takes the queued ones of the same view context and target
// without waiting, up to batchMax; an attempt that does not match starts
// the next batch.
func (w *workers) runBatches() {
	defer w.wg.Done()
	batch := make([]*Attempt, 0, w.batchMax)
	ds := make([]Delivery, 0, w.batchMax)
	out := make([]BatchResult, w.batchMax)
	var next *Attempt
	for {
		if next == nil {
			a, ok := <-w.jobs
			if !ok {
				return
			}
			next = a
		}
		batch = append(batch[:0], next)
		next = nil
	fill:
		for len(batch) < w.batchMax {
			select {
			case a, ok := <-w.jobs:
				if !ok {
					break fill
				}
				if a.Ctx != batch[0].Ctx || string(a.Target) != string(batch[0].Target) {
					next = a
					break fill
				}
				batch = append(batch, a)
			default:
				break fill
			}
		}
		ds = ds[:0]
		for _, a := range batch {
			ds = append(ds, a.Delivery)
		}
		res := out[:len(batch)]
		clear(res)
		w.deliverBatch(batch[0].Ctx, ds, res)
		for i, a := range batch {
			w.d.Complete(a, res[i].Result, res[i].Err)
		}
		clear(batch)
		clear(ds)
	}
}

// deliverBatch calls the batch sink with the attempt timeout; a panicking
// sink, or a context ended before the call, is a transient failure of
// every delivery.
func (w *workers) deliverBatch(ctx context.Context, ds []Delivery, out []BatchResult) {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	fail := func(err error) {
		for i := range out {
			out[i] = BatchResult{Err: err}
		}
	}
	defer func() {
		if r := recover(); r != nil {
			fail(fmt.Errorf("outbox: sink panicked: %v", r))
		}
	}()
	if err := ctx.Err(); err != nil {
		fail(err)
		return
	}
	w.batch.DeliverBatch(ctx, ds, out)
}

// deliver calls the sink with the attempt timeout; a panicking sink counts
// as a transient failure.
func (w *workers) deliver(a *Attempt) (result []byte, err error) {
	ctx, cancel := context.WithTimeout(a.Ctx, w.timeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			result, err = nil, fmt.Errorf("outbox: sink panicked: %v", r)
		}
	}()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return w.sink.Deliver(ctx, a.Delivery)
}

// Complete takes the outcome of an attempt from the transport: it becomes
// a ready ack, unless the attempt was superseded (step-down, close) or
// fenced by the sink.
func (d *Dispatcher) Complete(a *Attempt, result []byte, err error) {
	outcome, reason, after, fenced := classify(err)
	d.mu.Lock()
	d.inflight--
	now := d.cfg.Now()
	if !a.started.IsZero() {
		lat, b := now.Sub(a.started), 0
		for b < len(LatencyBounds) && lat > LatencyBounds[b] {
			b++
		}
		d.stats.Latency[b]++
		d.stats.LatencySum += lat
	}
	current := !d.closed && d.tracks[a.ID] == a.tr && a.tr.view == d.view
	switch {
	case !current:
		d.stats.Dropped++
		d.mu.Unlock()
		d.log.Debug("outbox: dropped superseded result", "key", a.Key, "token", a.Token, "attempt", a.Attempt)
		return
	case fenced:
		d.stats.Fenced++
		delete(d.tracks, a.ID)
		d.mu.Unlock()
		d.log.Info("outbox: delivery fenced by a newer token", "key", a.Key, "token", a.Token)
		return
	}
	if len(result) > d.cfg.ResultSizeMax {
		result = result[:d.cfg.ResultSizeMax]
	}
	d.ready = append(d.ready, Ack{
		ID: a.ID, View: a.Token, Attempt: a.Attempt, Outcome: outcome, Reason: reason, After: after,
		Result: append([]byte(nil), result...),
	})
	a.tr.awaiting = true
	d.awaiting++
	switch outcome {
	case OutcomeDone:
		d.stats.Done++
	case OutcomeRetry:
		d.stats.Retry++
		if errors.Is(err, context.DeadlineExceeded) {
			d.stats.RetryTimeout++
		} else {
			d.stats.RetryOther++
		}
		d.log.Debug("outbox: delivery failed, will retry", "key", a.Key, "attempt", a.Attempt, "err", err)
	case OutcomeFailed:
		d.stats.Failed++
		d.log.Warn("outbox: delivery failed permanently", "key", a.Key, "reason", reason, "err", err)
	}
	d.mu.Unlock()
	if d.cfg.Notify != nil {
		d.cfg.Notify()
	}
}
