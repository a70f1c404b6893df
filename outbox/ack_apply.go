package outbox

import (
	"encoding/binary"

	"github.com/chronon-db/chronon/statemachine"
)

// AckReplySize is the size of ApplyAck's reply.
const AckReplySize = 24

// AckStatus is the first field of ApplyAck's reply.
type AckStatus uint32

// Ack statuses.
const (
	// AckOK: the body was valid; counts say what each ack did.
	AckOK AckStatus = 0
	// AckInvalid: the body was malformed; nothing was applied.
	AckInvalid AckStatus = 1
)

// AckReply is ApplyAck's reply. Layout (little-endian): status u32,
// applied u32, duplicate u32, stale u32, unknown u32, reserved u32.
type AckReply struct {
	Status AckStatus
	// Applied counts acks that changed an effect.
	Applied uint32
	// Duplicate counts acks for an attempt already accounted for.
	Duplicate uint32
	// Stale counts acks whose view is older than the effect's View.
	Stale uint32
	// Unknown counts acks for ids not in the table (finished or never
	// emitted).
	Unknown uint32
}

// DecodeAckReply decodes ApplyAck's reply.
func DecodeAckReply(b []byte) (AckReply, bool) {
	if len(b) != AckReplySize {
		return AckReply{}, false
	}
	le := binary.LittleEndian
	return AckReply{
		Status:    AckStatus(le.Uint32(b[0:])),
		Applied:   le.Uint32(b[4:]),
		Duplicate: le.Uint32(b[8:]),
		Stale:     le.Uint32(b[12:]),
		Unknown:   le.Uint32(b[16:]),
	}, true
}

func (r *AckReply) put(b []byte) int {
	le := binary.LittleEndian
	le.PutUint32(b[0:], uint32(r.Status))
	le.PutUint32(b[4:], r.Applied)
	le.PutUint32(b[8:], r.Duplicate)
	le.PutUint32(b[12:], r.Stale)
	le.PutUint32(b[16:], r.Unknown)
	le.PutUint32(b[20:], 0)
	return AckReplySize
}

// ValidateAcks checks an ack body against the table's limits without
// changing anything; it returns nil or an error wrapping ErrAckBody.
func (t *Table) ValidateAcks(body []byte) error {
	if _, p := validateAckBody(body, t.cfg.ResultSizeMax); p != "" {
		return ackError(p)
	}
	return nil
}

// ApplyAck applies a committed OperationOutboxAck request: body is the
// request body, ctx its commit context; it writes an AckReply into reply
// (len(reply) ≥ AckReplySize) and returns AckReplySize. It does not
// allocate.
//
// A malformed body is rejected whole (AckInvalid, no change). Otherwise
// each ack, in body order, is:
//   - unknown: the id is not in the table (already finished, or never
//     emitted) — no-op;
//   - stale: ack.View < the effect's View, the token of an attempt already
//     acknowledged from a newer view — no-op (the effect stays open; a
//     done from an older view is re-learned from the sink's dedup store on
//     the next attempt);
//   - duplicate: a retry whose Attempt is not the effect's Attempts + 1, or
//     a done/failed whose Attempt is beyond it — no-op;
//   - applied: done ⇒ the effect finishes as StateDone; failed ⇒ as
//     StateFailed with the ack's reason; retry ⇒ Attempts++, View =
//     ack.View, NextAttempt = ctx.Timestamp + backoff(Attempts, ack.After),
//     or StateFailed with ReasonAttemptsExhausted at AttemptsMax. The
//     ack's Result (truncated to ResultSizeMax) becomes the effect's.
//
// Finished effects are shown to the Observer, then removed.
func (t *Table) ApplyAck(ctx *statemachine.Context, body []byte, reply []byte) int {
	var r AckReply
	if _, p := validateAckBody(body, t.cfg.ResultSizeMax); p != "" {
		r.Status = AckInvalid
		return r.put(reply)
	}
	var c ackCursor
	c.start(body, t.cfg.ResultSizeMax)
	var a Ack
	for {
		done, _ := c.next(&a)
		if done {
			break
		}
		switch t.applyOne(ctx, &a) {
		case ackApplied:
			r.Applied++
		case ackDuplicate:
			r.Duplicate++
		case ackStale:
			r.Stale++
		case ackUnknown:
			r.Unknown++
		}
	}
	return r.put(reply)
}

type ackEffect uint8

const (
	ackApplied ackEffect = iota
	ackDuplicate
	ackStale
	ackUnknown
)

func (t *Table) applyOne(ctx *statemachine.Context, a *Ack) ackEffect {
	i, ok := t.index.find(t.slots, a.ID)
	if !ok {
		return ackUnknown
	}
	s := &t.slots[i]
	if a.View < s.view {
		return ackStale
	}
	switch a.Outcome {
	case OutcomeDone, OutcomeFailed:
		if a.Attempt > s.attempts+1 {
			return ackDuplicate
		}
		t.setResult(i, a.Result)
		s.view = a.View
		if a.Outcome == OutcomeDone {
			t.finish(ctx, i, StateDone, ReasonNone)
		} else {
			t.finish(ctx, i, StateFailed, a.Reason)
		}
		return ackApplied
	default: // OutcomeRetry; the body was validated.
		if a.Attempt != s.attempts+1 {
			return ackDuplicate
		}
		t.setResult(i, a.Result)
		s.view = a.View
		s.attempts++
		if s.attempts >= t.cfg.AttemptsMax {
			t.finish(ctx, i, StateFailed, ReasonAttemptsExhausted)
			return ackApplied
		}
		s.state = StateRetry
		s.next = ctx.Timestamp + t.cfg.backoff(s.attempts, a.After)
		if s.next < ctx.Timestamp { // overflow: never before the ack
			s.next = ^uint64(0)
		}
		t.rehash(i)
		return ackApplied
	}
}

// finish moves slot i to a terminal state, tells the observer, keeps a copy
// if it failed, and removes it.
func (t *Table) finish(ctx *statemachine.Context, i uint32, state State, reason Reason) {
	s := &t.slots[i]
	s.state, s.reason = state, reason
	if state == StateDone {
		t.done++
	} else {
		t.failed++
	}
	if t.observer != nil {
		e := t.effect(i)
		t.observer.EffectFinished(ctx, &e)
	}
	if state == StateFailed {
		t.keepFailure(i)
	}
	t.remove(i)
}
