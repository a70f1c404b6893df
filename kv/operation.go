package kv

import (
	"strconv"

	"github.com/chronon-db/chronon/wire"
)

// Operations of the store. The numbering is part of the wire format.
const (
	// OperationPut sets keys to values.
	OperationPut = wire.OperationUserMin + 0
	// OperationGet reads keys.
	OperationGet = wire.OperationUserMin + 1
	// OperationDelete removes keys.
	OperationDelete = wire.OperationUserMin + 2
	// OperationCompareAndSet sets keys whose current value is the expected
	// one (or that are absent, with CASExpectAbsent).
	OperationCompareAndSet = wire.OperationUserMin + 3
)

// OperationName returns the name of a kv operation, or wire's name for any
// other operation.
func OperationName(o wire.Operation) string {
	switch o {
	case OperationPut:
		return "put"
	case OperationGet:
		return "get"
	case OperationDelete:
		return "delete"
	case OperationCompareAndSet:
		return "compare_and_set"
	}
	return o.String()
}

// Result is the outcome of one operation, one byte in the reply. The
// numbering is part of the wire format.
type Result uint8

// Results.
const (
	// ResultOK: done (get: the value follows).
	ResultOK Result = 0
	// ResultNotFound: get, delete or compare_and_set of an absent key.
	ResultNotFound Result = 1
	// ResultCASMismatch: compare_and_set found another value (or, with
	// CASExpectAbsent, a present key).
	ResultCASMismatch Result = 2
	// ResultFull: put or compare_and_set of a new key into a full store.
	ResultFull Result = 3
	// ResultInvalid: the whole body is malformed; nothing was applied. It is
	// the only byte of the reply. Validate rejects such bodies, so a client
	// only sees it if a replica skipped Validate.
	ResultInvalid Result = 4

	resultCount = 5
)

var resultNames = [resultCount]string{"ok", "not_found", "cas_mismatch", "full", "invalid"}

// String returns the snake_case name of r, or "result(N)".
func (r Result) String() string {
	if r < resultCount {
		return resultNames[r]
	}
	return "result(" + strconv.Itoa(int(r)) + ")"
}
