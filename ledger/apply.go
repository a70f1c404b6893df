package ledger

import (
	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// Apply executes one committed request and writes its reply (see the
// package doc). A body that Validate rejects changes nothing: creates answer
// it with a single EventResult{0, ResultBatchInvalid}, lookups and unknown
// operations with an empty reply, queries with a reply header naming the
// QueryResult. Apply does not allocate.
func (l *Ledger) Apply(ctx *statemachine.Context, operation wire.Operation, input []byte, reply []byte) int {
	if isQuery(operation) {
		return l.query(operation, input, reply)
	}
	n, err := events(l.cfg.BatchMax, operation, input)
	if err != nil {
		if operation == OperationCreateAccounts || operation == OperationCreateTransfers {
			EventResult{Index: 0, Result: ResultBatchInvalid}.Encode(reply)
			return EventResultSize
		}
		return 0
	}
	switch operation {
	case OperationCreateAccounts:
		return l.createAccounts(l.firstTimestamp(ctx, n), input, reply)
	case OperationCreateTransfers:
		return l.createTransfers(l.firstTimestamp(ctx, n), input, reply)
	case OperationLookupAccounts:
		return l.lookupAccounts(input, reply)
	case OperationLookupTransfers:
		return l.lookupTransfers(input, reply)
	}
	return 0
}

// firstTimestamp returns the timestamp of the first of n events applied at
// ctx.Timestamp, and records ctx.Timestamp as the commit timestamp. It
// panics when the replica did not reserve one nanosecond per event, since
// that breaks the uniqueness of timestamps.
func (l *Ledger) firstTimestamp(ctx *statemachine.Context, n int) uint64 {
	if n == 0 {
		return ctx.Timestamp
	}
	if ctx.Timestamp < uint64(n) || ctx.Timestamp-uint64(n) < l.commitTimestamp {
		panic("ledger: Context.Timestamp must exceed the previous create batch's by at least the batch's event count")
	}
	l.commitTimestamp = ctx.Timestamp
	return ctx.Timestamp - uint64(n) + 1
}

// putResult writes a failure of event index at reply[w:] and returns the new
// write offset; ResultOK is not written.
func putResult(reply []byte, w int, index int, r Result) int {
	if r == ResultOK {
		return w
	}
	EventResult{Index: uint32(index), Result: r}.Encode(reply[w:])
	return w + EventResultSize
}

// EffectsBound implements outbox.EffectsBound: with Config.Effects, a
// create_transfers request emits at most one effect per transfer; nothing
// else emits any.
func (l *Ledger) EffectsBound(operation wire.Operation, input []byte) uint64 {
	if l.cfg.Effects == nil || operation != OperationCreateTransfers {
		return 0
	}
	return uint64(len(input) / TransferSize)
}
