package outbox

import (
	"context"
	"fmt"
)

// worker runs deliveries until Close.
func (d *Dispatcher) worker() {
	defer d.wg.Done()
	for j := range d.jobs {
		result, err := d.deliver(j)
		d.complete(j, result, err)
	}
}

// deliver calls the sink with the attempt timeout; a panicking sink counts
// as a transient failure.
func (d *Dispatcher) deliver(j *job) (result []byte, err error) {
	ctx, cancel := context.WithTimeout(j.ctx, d.cfg.AttemptTimeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			result, err = nil, fmt.Errorf("outbox: sink panicked: %v", r)
		}
	}()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return d.cfg.Sink.Deliver(ctx, j.d)
}

// complete turns a delivery's result into a ready ack, unless the attempt
// was superseded (step-down, close) or fenced.
func (d *Dispatcher) complete(j *job, result []byte, err error) {
	outcome, reason, after, fenced := classify(err)
	d.mu.Lock()
	d.inflight--
	current := !d.closed && d.tracks[j.d.ID] == j.tr && j.tr.view == d.view
	switch {
	case !current:
		d.stats.Dropped++
		d.mu.Unlock()
		d.log.Debug("outbox: dropped superseded result", "key", j.d.Key, "token", j.d.Token, "attempt", j.d.Attempt)
		return
	case fenced:
		d.stats.Fenced++
		delete(d.tracks, j.d.ID)
		d.mu.Unlock()
		d.log.Info("outbox: delivery fenced by a newer token", "key", j.d.Key, "token", j.d.Token)
		return
	}
	if len(result) > d.cfg.ResultSizeMax {
		result = result[:d.cfg.ResultSizeMax]
	}
	d.ready = append(d.ready, Ack{
		ID: j.d.ID, View: j.d.Token, Attempt: j.d.Attempt, Outcome: outcome, Reason: reason, After: after,
		Result: append([]byte(nil), result...),
	})
	j.tr.awaiting = true
	j.tr.deadline = d.cfg.Now().Add(d.cfg.AckTimeout)
	d.awaiting++
	switch outcome {
	case OutcomeDone:
		d.stats.Done++
	case OutcomeRetry:
		d.stats.Retry++
		d.log.Debug("outbox: delivery failed, will retry", "key", j.d.Key, "attempt", j.d.Attempt, "err", err)
	case OutcomeFailed:
		d.stats.Failed++
		d.log.Warn("outbox: delivery failed permanently", "key", j.d.Key, "reason", reason, "err", err)
	}
	d.mu.Unlock()
	if d.cfg.Notify != nil {
		d.cfg.Notify()
	}
}
