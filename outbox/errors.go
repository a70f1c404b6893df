package outbox

import "errors"

// Errors returned by Emitter.Emit. They are returned unwrapped so that Emit
// does not allocate; test them with errors.Is.
var (
	// ErrFull means the table holds EffectsMax effects; the request that
	// tried to emit should answer its client with an error result.
	ErrFull = errors.New("outbox: table full")
	// ErrTargetSize means the target is empty or longer than TargetSizeMax.
	ErrTargetSize = errors.New("outbox: target size out of range")
	// ErrPayloadSize means the payload is longer than PayloadSizeMax.
	ErrPayloadSize = errors.New("outbox: payload too large")
	// ErrNotApplying means Emit was called outside Begin/End, that is not
	// while the replica applies a committed request.
	ErrNotApplying = errors.New("outbox: emit outside apply")
	// ErrDuplicateID means the derived id is already in the table (an op
	// applied twice, or a hash collision); nothing was emitted.
	ErrDuplicateID = errors.New("outbox: duplicate effect id")
)

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("outbox: invalid config")

// ErrSnapshot is wrapped by every Table.Restore error.
var ErrSnapshot = errors.New("outbox: invalid snapshot")

// ErrAckBody is wrapped by every error decoding an ack body.
var ErrAckBody = errors.New("outbox: invalid ack body")

// ErrFenced is returned (wrapped) by a sink when the receiving side has seen
// a newer fencing token for the key: a newer primary owns the effect, so the
// Dispatcher drops the attempt without an ack.
var ErrFenced = errors.New("outbox: fenced by a newer token")

// ErrClosed is returned by operations on a closed Dispatcher or Receiver.
var ErrClosed = errors.New("outbox: closed")
