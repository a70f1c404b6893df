package outbox

import (
	"encoding/binary"
	"fmt"
	"strconv"

	"github.com/chronon-db/chronon/wire"
)

// Outcome is the result of one attempt to deliver an effect.
type Outcome uint8

// Outcomes. The numbering is part of the ack body encoding.
const (
	// OutcomeDone: the sink applied the effect.
	OutcomeDone Outcome = 1
	// OutcomeRetry: a transient failure; try again after a backoff.
	OutcomeRetry Outcome = 2
	// OutcomeFailed: a permanent failure with a Reason; never retried.
	OutcomeFailed Outcome = 3
)

// String returns the outcome's name.
func (o Outcome) String() string {
	switch o {
	case OutcomeDone:
		return "done"
	case OutcomeRetry:
		return "retry"
	case OutcomeFailed:
		return "failed"
	}
	return "outcome(" + strconv.Itoa(int(o)) + ")"
}

// Ack reports the outcome of one attempt of one effect. A batch of acks is
// the body of an OperationOutboxAck request.
type Ack struct {
	// ID is the effect's id.
	ID wire.Uint128
	// View is the fencing token the attempt carried: the view of the
	// primary that dispatched it.
	View uint32
	// Attempt is the attempt's number, 1-based: the effect's Attempts + 1
	// when it was dispatched.
	Attempt uint32
	Outcome Outcome
	// Reason is set for OutcomeFailed only, and is not ReasonNone there.
	Reason Reason
	// After is the sink's retry hint in ns, for OutcomeRetry only.
	After uint64
	// Result is optional bytes for the state machine (e.g. a response).
	Result []byte
}

// Ack body layout (little-endian):
//
//	0 4 count
//	4 4 reserved (0)
//	8   count × record:
//	     0 16 id
//	    16  4 view
//	    20  4 attempt (≥ 1)
//	    24  8 after (ns; 0 unless outcome is retry)
//	    32  1 outcome (1 done | 2 retry | 3 failed)
//	    33  1 reserved (0)
//	    34  2 reason (≠ 0 iff outcome is failed)
//	    36  2 result_size
//	    38  2 reserved (0)
//	    40    result
//
// The body ends exactly after the last record.
const (
	ackBodyHeaderSize = 8
	// AckRecordSize is the fixed part of one ack record.
	AckRecordSize = 40
)

// AckSize returns the encoded size of a.
func AckSize(a *Ack) int { return AckRecordSize + len(a.Result) }

// AppendAckBody appends the encoding of acks to dst. Results longer than
// SizeLimit are truncated.
func AppendAckBody(dst []byte, acks []Ack) []byte {
	le := binary.LittleEndian
	dst = le.AppendUint32(dst, uint32(len(acks)))
	dst = le.AppendUint32(dst, 0)
	for i := range acks {
		a := &acks[i]
		result := a.Result
		if len(result) > SizeLimit {
			result = result[:SizeLimit]
		}
		dst = le.AppendUint64(dst, a.ID.Lo)
		dst = le.AppendUint64(dst, a.ID.Hi)
		dst = le.AppendUint32(dst, a.View)
		dst = le.AppendUint32(dst, a.Attempt)
		dst = le.AppendUint64(dst, a.After)
		dst = append(dst, byte(a.Outcome), 0)
		dst = le.AppendUint16(dst, uint16(a.Reason))
		dst = le.AppendUint16(dst, uint16(len(result)))
		dst = le.AppendUint16(dst, 0)
		dst = append(dst, result...)
	}
	return dst
}

// ackCursor walks a validated or unvalidated ack body without allocating.
type ackCursor struct {
	rest      []byte
	remaining uint32
	resultMax int
}

// start reads the body header.
func (c *ackCursor) start(body []byte, resultMax int) string {
	if len(body) < ackBodyHeaderSize {
		return "body shorter than its header"
	}
	le := binary.LittleEndian
	if le.Uint32(body[4:]) != 0 {
		return "reserved header bytes not zero"
	}
	count := le.Uint32(body[0:])
	if uint64(count)*AckRecordSize > uint64(len(body)-ackBodyHeaderSize) {
		return "count exceeds body"
	}
	*c = ackCursor{rest: body[ackBodyHeaderSize:], remaining: count, resultMax: resultMax}
	return ""
}

// next decodes the next record into a; done reports the end of the body.
func (c *ackCursor) next(a *Ack) (done bool, problem string) {
	if c.remaining == 0 {
		if len(c.rest) != 0 {
			return true, "bytes after the last record"
		}
		return true, ""
	}
	b := c.rest
	if len(b) < AckRecordSize {
		return true, "truncated record"
	}
	le := binary.LittleEndian
	*a = Ack{
		ID:      wire.Uint128{Lo: le.Uint64(b[0:]), Hi: le.Uint64(b[8:])},
		View:    le.Uint32(b[16:]),
		Attempt: le.Uint32(b[20:]),
		After:   le.Uint64(b[24:]),
		Outcome: Outcome(b[32]),
		Reason:  Reason(le.Uint16(b[34:])),
	}
	size := int(le.Uint16(b[36:]))
	switch {
	case b[33] != 0 || le.Uint16(b[38:]) != 0:
		return true, "reserved record bytes not zero"
	case a.Attempt == 0:
		return true, "attempt 0"
	case a.Outcome < OutcomeDone || a.Outcome > OutcomeFailed:
		return true, "unknown outcome"
	case (a.Reason != ReasonNone) != (a.Outcome == OutcomeFailed):
		return true, "reason must be set exactly for failed"
	case a.After != 0 && a.Outcome != OutcomeRetry:
		return true, "after set on a non-retry outcome"
	case size > c.resultMax:
		return true, "result too large"
	case len(b) < AckRecordSize+size:
		return true, "truncated result"
	}
	a.Result = b[AckRecordSize : AckRecordSize+size : AckRecordSize+size]
	c.rest = b[AckRecordSize+size:]
	c.remaining--
	return false, ""
}

// validateAckBody checks a whole body; it returns the number of records.
func validateAckBody(body []byte, resultMax int) (int, string) {
	var c ackCursor
	if p := c.start(body, resultMax); p != "" {
		return 0, p
	}
	n := int(c.remaining)
	var a Ack
	for {
		done, p := c.next(&a)
		if p != "" {
			return 0, p
		}
		if done {
			return n, ""
		}
	}
}

// DecodeAcks decodes an ack body, appending its acks to dst. Results alias
// body. Results longer than resultSizeMax are rejected. Every error wraps
// ErrAckBody.
func DecodeAcks(dst []Ack, body []byte, resultSizeMax int) ([]Ack, error) {
	var c ackCursor
	if p := c.start(body, resultSizeMax); p != "" {
		return dst, fmt.Errorf("%w: %s", ErrAckBody, p)
	}
	start := len(dst)
	for {
		var a Ack
		done, p := c.next(&a)
		if p != "" {
			return dst[:start], fmt.Errorf("%w: record %d: %s", ErrAckBody, len(dst)-start, p)
		}
		if done {
			return dst, nil
		}
		dst = append(dst, a)
	}
}

func ackError(problem string) error { return fmt.Errorf("%w: %s", ErrAckBody, problem) }
