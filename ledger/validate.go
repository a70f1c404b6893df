package ledger

import (
	"fmt"

	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// Errors returned by Validate. Each wraps statemachine.ErrInvalidInput. They
// are built once so that Validate does not allocate.
var (
	ErrOperation = fmt.Errorf("ledger: unknown operation: %w", statemachine.ErrInvalidInput)
	ErrBodySize  = fmt.Errorf("ledger: body size is not a multiple of the event size: %w", statemachine.ErrInvalidInput)
	ErrBatchMax  = fmt.Errorf("ledger: body holds more than BatchMax events: %w", statemachine.ErrInvalidInput)
)

// Validate checks the framing of a request body: a known operation, a body
// size that is a multiple of the event size, and at most Config.BatchMax
// events. An empty body is valid (and answered with an empty reply). The
// fields of each event are checked by Apply and reported per event. A
// query's body must be exactly one AccountFilter whose fields pass the
// checks that need no state (the errors match the QueryResults).
func (l *Ledger) Validate(operation wire.Operation, input []byte) error {
	_, err := events(l.cfg.BatchMax, operation, input)
	return err
}

// Validate checks a request body as Ledger.Validate does for a ledger with
// the given batchMax (0 means BatchMaxDefault). Clients use it to check a
// body before sending without building a Ledger.
func Validate(batchMax int, operation wire.Operation, input []byte) error {
	if batchMax <= 0 {
		batchMax = BatchMaxDefault
	}
	_, err := events(batchMax, operation, input)
	return err
}

// events returns the number of events in input, or an error if Validate
// rejects the body.
func events(batchMax int, operation wire.Operation, input []byte) (int, error) {
	if isQuery(operation) {
		if err := validateQuery(input); err != nil {
			return 0, err
		}
		return 1, nil
	}
	size := eventSize(operation)
	if size == 0 {
		return 0, ErrOperation
	}
	if len(input)%size != 0 {
		return 0, ErrBodySize
	}
	n := len(input) / size
	if n > batchMax {
		return 0, ErrBatchMax
	}
	return n, nil
}

// ReplySizeMax bounds the reply: for creates, one EventResult per event
// (at least one, for ResultBatchInvalid); for lookups, one record per id,
// at most BatchMax records; for queries, which fill the room they get, the
// least room that holds one record (header and one 128-byte record); 0 for
// unknown operations.
func (l *Ledger) ReplySizeMax(operation wire.Operation, inputSize int) int {
	if isQuery(operation) {
		return QueryHeaderSize + TransferSize
	}
	size := eventSize(operation)
	if size == 0 || inputSize < 0 {
		return 0
	}
	n := min(inputSize/size, l.cfg.BatchMax)
	switch operation {
	case OperationCreateAccounts, OperationCreateTransfers:
		return max(1, n) * EventResultSize
	default:
		return n * AccountSize
	}
}
