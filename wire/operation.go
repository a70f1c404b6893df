package wire

// Operation says what a request or prepare asks the state machine to do.
// Values below OperationUserMin are reserved for the protocol and for
// Chronon's own machines (the outbox); a state machine defines its own
// operations at OperationUserMin and above.
type Operation uint8

// Reserved operations. The numbering is part of the wire
// format.
const (
	// OperationNone is carried by every command that is not a request,
	// prepare or reply.
	OperationNone Operation = 0
	// OperationRoot marks the root prepare at op 0 that starts every log.
	OperationRoot Operation = 1
	// OperationRegister opens a client session; its commit op becomes the
	// session number.
	OperationRegister Operation = 2
	// OperationNoop is prepared by a new primary to commit its log suffix.
	OperationNoop Operation = 3
	// OperationOutboxAck records the outcome of dispatched effects (a
	// local-only operation of outbox.Machine, submitted by the primary's
	// dispatcher; see statemachine.LocalOperations).
	OperationOutboxAck Operation = 4
	// OperationBatch marks a prepare whose body is a sequence of sealed
	// client requests packed by the primary (see docs/protocol.md).
	OperationBatch Operation = 5
	// OperationOutboxQuery lists effects of the outbox (a request through
	// consensus answered by outbox.Machine from its table; see
	// outbox.Query).
	OperationOutboxQuery Operation = 6

	// OperationUserMin is the first operation a state machine may define.
	OperationUserMin Operation = 128
)

// String returns the name of a reserved operation, or "user(N)".
func (o Operation) String() string {
	switch o {
	case OperationNone:
		return "none"
	case OperationRoot:
		return "root"
	case OperationRegister:
		return "register"
	case OperationNoop:
		return "noop"
	case OperationOutboxAck:
		return "outbox_ack"
	case OperationBatch:
		return "batch"
	case OperationOutboxQuery:
		return "outbox_query"
	}
	if o >= OperationUserMin {
		return "user(" + itoa(uint64(o)) + ")"
	}
	return "unknown(" + itoa(uint64(o)) + ")"
}

// valid reports whether o is reserved-and-known or a user operation.
func (o Operation) valid() bool {
	return o <= OperationOutboxQuery || o >= OperationUserMin
}
