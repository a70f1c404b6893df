// Package nats is an outbox sink that publishes Chronon effects to NATS
// JetStream with the effect's idempotency key as the message id
// (Nats-Msg-Id), so the stream stores each effect once within its
// duplicate window.
//
// It is a separate Go module (github.com/chronon-db/chronon/sinks/nats)
// so that the core module does not depend on nats.go. A program that
// embeds Chronon passes a *Sink as node.Config.Sink or cluster.Config.Sink;
// it is an outbox.BatchSink: a batch is published asynchronously and its
// acks awaited together.
//
// The guarantee, exactly: JetStream drops a message whose Nats-Msg-Id it
// has seen within the stream's duplicate window (StreamConfig.Duplicates,
// 2 minutes by default) and answers it as a duplicate with the original's
// sequence; the sink reports that as done with the same result. A
// re-delivery after the window (an effect un-acked that long: a cluster
// without a primary, a failed ack followed by a long backoff) is stored
// again: beyond the window delivery is at least once, and consumers that
// must not see a duplicate deduplicate by the Nats-Msg-Id header. There
// is no fencing by token in JetStream: the token travels in the
// Chronon-Fencing-Token header for consumers that want it.
package nats

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/chronon-db/chronon/outbox"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Config configures a Sink.
type Config struct {
	// Subject maps a delivery to its subject; nil means the effect's
	// target.
	Subject func(d outbox.Delivery) string
	// Stream, when set, is the stream the subject must belong to
	// (Nats-Expected-Stream); a publish to another is refused.
	Stream string
}

// Sink publishes effects to JetStream (see the package documentation).
// It is safe for concurrent use.
type Sink struct {
	js  jetstream.JetStream
	cfg Config
}

// New makes a sink publishing through js.
func New(js jetstream.JetStream, cfg Config) *Sink { return &Sink{js: js, cfg: cfg} }

// msg builds the message of d, or a permanent error for an empty subject.
func (s *Sink) msg(d *outbox.Delivery) (*nats.Msg, []jetstream.PublishOpt, error) {
	subject := string(d.Target)
	if s.cfg.Subject != nil {
		subject = s.cfg.Subject(*d)
	}
	if subject == "" {
		return nil, nil, outbox.Permanent(outbox.ReasonBadTarget, errors.New("nats sink: empty subject"))
	}
	m := nats.NewMsg(subject)
	m.Data = d.Payload
	m.Header.Set(outbox.HeaderFencingToken, strconv.FormatUint(uint64(d.Token), 10))
	m.Header.Set(outbox.HeaderAttempt, strconv.FormatUint(uint64(d.Attempt), 10))
	m.Header.Set(outbox.HeaderKind, strconv.FormatUint(uint64(d.Kind), 10))
	opts := []jetstream.PublishOpt{jetstream.WithMsgID(d.Key)}
	if s.cfg.Stream != "" {
		opts = append(opts, jetstream.WithExpectStream(s.cfg.Stream))
	}
	return m, opts, nil
}

// result is a publish's result: "<stream> <sequence>", the same for a
// duplicate within the window (the original's sequence).
func result(a *jetstream.PubAck) []byte {
	return fmt.Appendf(nil, "%s %d", a.Stream, a.Sequence)
}

// Deliver publishes d and waits for its ack.
func (s *Sink) Deliver(ctx context.Context, d outbox.Delivery) ([]byte, error) {
	m, opts, err := s.msg(&d)
	if err != nil {
		return nil, err
	}
	ack, err := s.js.PublishMsg(ctx, m, opts...)
	if err != nil {
		return nil, fmt.Errorf("nats sink: publish %s: %w", d.Key, err)
	}
	return result(ack), nil
}

// DeliverBatch publishes ds asynchronously and waits for every ack, or
// ctx.
func (s *Sink) DeliverBatch(ctx context.Context, ds []outbox.Delivery, out []outbox.BatchResult) {
	futures := make([]jetstream.PubAckFuture, len(ds))
	for i := range ds {
		m, opts, err := s.msg(&ds[i])
		if err == nil {
			futures[i], err = s.js.PublishMsgAsync(m, opts...)
		}
		if err != nil {
			out[i] = outbox.BatchResult{Err: fmt.Errorf("nats sink: publish %s: %w", ds[i].Key, err)}
		}
	}
	for i, f := range futures {
		if f == nil {
			continue
		}
		select {
		case ack := <-f.Ok():
			out[i] = outbox.BatchResult{Result: result(ack)}
		case err := <-f.Err():
			out[i] = outbox.BatchResult{Err: fmt.Errorf("nats sink: publish %s: %w", ds[i].Key, err)}
		case <-ctx.Done():
			out[i] = outbox.BatchResult{Err: fmt.Errorf("nats sink: publish %s: %w", ds[i].Key, ctx.Err())}
		}
	}
}
