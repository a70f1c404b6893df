package outbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/chronon-db/chronon/wire"
)

// Delivery is one attempt handed to a Sink. Its slices are owned by the
// delivery (copies of the table's bytes).
type Delivery struct {
	// ID is the effect's id; Key is the same as 32 hex digits, the
	// idempotency key.
	ID  wire.Uint128
	Key string
	// Token is the fencing token: the view of the primary dispatching.
	Token uint32
	// Attempt is 1-based; a re-dispatch after failover may repeat a number.
	Attempt uint32
	Kind    Kind
	Target  []byte
	Payload []byte
}

// Sink delivers effects. Deliver returns the result bytes (optional, kept
// up to ResultSizeMax) and nil when the effect was applied; otherwise an
// error that says what to do:
//   - wrapping ErrFenced: a newer token owns the key; no ack is sent;
//   - a *PermanentError (errors.As): never retried, recorded as failed;
//   - anything else, including a *RetryError with a hint, context errors
//     and I/O errors: retried after a backoff.
//
// Deliver must honour ctx (it is cancelled on step-down and timeout) and be
// safe for concurrent use.
type Sink interface {
	Deliver(ctx context.Context, d Delivery) ([]byte, error)
}

// BatchSink is a Sink that also takes many deliveries in one call (one
// database transaction, one HTTP request, one publish round). The
// dispatcher's workers use DeliverBatch when the sink implements it; every
// delivery of one call has the same fencing token and target.
//
// DeliverBatch sets out[i] (len(out) == len(ds)) to the outcome of ds[i],
// with the meaning of Deliver's results; outcomes are per delivery (one
// may be done while another is retried). It must honour ctx and be safe
// for concurrent use; the slices are valid during the call only.
type BatchSink interface {
	Sink
	DeliverBatch(ctx context.Context, ds []Delivery, out []BatchResult)
}

// BatchResult is the outcome of one delivery of a DeliverBatch call.
type BatchResult struct {
	Result []byte
	Err    error
}

// PermanentError marks a failure that retrying cannot fix.
type PermanentError struct {
	Reason Reason
	Err    error
}

// Permanent returns a *PermanentError for reason wrapping err.
func Permanent(reason Reason, err error) error {
	if reason == ReasonNone {
		reason = ReasonRejected
	}
	return &PermanentError{Reason: reason, Err: err}
}

// Error describes the failure and its reason.
func (e *PermanentError) Error() string {
	return fmt.Sprintf("outbox: permanent failure (reason %d): %v", e.Reason, e.Err)
}

// Unwrap returns the cause.
func (e *PermanentError) Unwrap() error { return e.Err }

// RetryError marks a transient failure with a hint of how long to wait.
type RetryError struct {
	After time.Duration
	Err   error
}

// Error describes the failure and the hint.
func (e *RetryError) Error() string {
	return fmt.Sprintf("outbox: transient failure (retry after %v): %v", e.After, e.Err)
}

// Unwrap returns the cause.
func (e *RetryError) Unwrap() error { return e.Err }

// FuncSink adapts an in-process Go function to Sink. The function should
// be idempotent by d.Key (see docs/outbox.md).
type FuncSink func(ctx context.Context, d Delivery) ([]byte, error)

// Deliver calls f.
func (f FuncSink) Deliver(ctx context.Context, d Delivery) ([]byte, error) { return f(ctx, d) }

// KindSink routes each delivery to the sink registered for its kind; a kind
// without a sink fails permanently with ReasonNoSink.
type KindSink map[Kind]Sink

// Deliver routes d by kind.
func (k KindSink) Deliver(ctx context.Context, d Delivery) ([]byte, error) {
	s, ok := k[d.Kind]
	if !ok {
		return nil, Permanent(ReasonNoSink, fmt.Errorf("no sink for kind %d", d.Kind))
	}
	return s.Deliver(ctx, d)
}

// classify turns a Deliver result into an ack outcome; fenced reports an
// attempt that must not be acknowledged.
func classify(err error) (outcome Outcome, reason Reason, after uint64, fenced bool) {
	if err == nil {
		return OutcomeDone, ReasonNone, 0, false
	}
	if errors.Is(err, ErrFenced) {
		return 0, 0, 0, true
	}
	var p *PermanentError
	if errors.As(err, &p) {
		r := p.Reason
		if r == ReasonNone {
			r = ReasonRejected
		}
		return OutcomeFailed, r, 0, false
	}
	var r *RetryError
	if errors.As(err, &r) && r.After > 0 {
		return OutcomeRetry, ReasonNone, uint64(r.After), false
	}
	return OutcomeRetry, ReasonNone, 0, false
}

func isFenced(err error) bool { return errors.Is(err, ErrFenced) }
