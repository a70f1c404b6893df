package outbox

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// workers is the default Transport: goroutines calling a Sink, each
// attempt bounded by the attempt timeout and its context.
type workers struct {
	d       *Dispatcher
	sink    Sink
	timeout time.Duration
	jobs    chan *Attempt
	wg      sync.WaitGroup

	mu     sync.Mutex
	closed bool
}

// startWorkers starts n goroutines delivering d's attempts to sink. The
// queue holds inFlightMax attempts: the dispatcher never has more in
// flight, so Start never blocks.
func startWorkers(d *Dispatcher, sink Sink, n, inFlightMax int, timeout time.Duration) *workers {
	w := &workers{d: d, sink: sink, timeout: timeout, jobs: make(chan *Attempt, inFlightMax)}
	for range n {
		w.wg.Add(1)
		go w.run()
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

// run delivers attempts until Close.
func (w *workers) run() {
	defer w.wg.Done()
	for a := range w.jobs {
		result, err := w.deliver(a)
		w.d.Complete(a, result, err)
	}
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
	a.tr.deadline = d.cfg.Now().Add(d.cfg.AckTimeout)
	d.awaiting++
	switch outcome {
	case OutcomeDone:
		d.stats.Done++
	case OutcomeRetry:
		d.stats.Retry++
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
