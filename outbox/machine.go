package outbox

import (
	"encoding/binary"
	"fmt"

	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// Machine is a state machine with an outbox: it wraps any
// statemachine.StateMachine (the inner machine, built with the table's
// Emitter) and owns the Table, so that effects, their acknowledgements and
// the effect listing are replicated state through the state-machine
// interface alone. The replica knows nothing of effects:
//
//   - Apply of any other operation brackets the inner machine's Apply with
//     the emitter's Begin and End: the effects it emits commit with the
//     request that caused them.
//   - wire.OperationOutboxAck is local-only (statemachine.LocalOperations):
//     only the primary's Dispatcher submits it, through
//     Replica.SubmitLocal, and Apply takes it only from
//     statemachine.LocalClient. Apply then applies the acks (Table.ApplyAck:
//     applying a body twice changes nothing), shows finished effects to
//     the Observer, and calls the hook set with OnAcksCommitted.
//   - wire.OperationOutboxQuery is an ordinary client request through
//     consensus (its answer is the table as of its commit, stored as the
//     client's reply), answered by Table.Query into whatever room the
//     reply has.
//   - Digest, Snapshot, Restore and SnapshotSizeMax cover the inner state
//     and the table together: one checkpoint blob holds both.
//
// Like every state machine, a Machine is called from the replica's event
// loop only.
type Machine struct {
	// GridForward forwards statemachine.GridBacked to the inner machine
	// (the outbox's own operations read nothing it dropped).
	statemachine.GridForward
	inner statemachine.StateMachine
	tbl   *Table
	// acksCommitted, if set, is called with the body of every applied
	// outbox_ack request.
	acksCommitted func(body []byte)
	// admitAbove is SetAdmission's percent (0: admission off).
	admitAbove int
}

// NewMachine wraps inner, whose effects go to tbl (inner was built with
// tbl.Emitter(), or emits nothing). If inner implements Observer, it is
// installed on the table: it then learns each effect's outcome (done or
// failed, with the sink's result) while the ack that carries it applies,
// the same on every replica, and may change its state or emit new effects
// in response.
func NewMachine(inner statemachine.StateMachine, tbl *Table) (*Machine, error) {
	if inner == nil || tbl == nil {
		return nil, fmt.Errorf("%w: a machine needs an inner state machine and a table", ErrConfig)
	}
	if o, ok := inner.(Observer); ok {
		tbl.SetObserver(o)
	}
	return &Machine{GridForward: statemachine.GridForward{Machine: inner}, inner: inner, tbl: tbl}, nil
}

// Table returns the machine's outbox table.
func (m *Machine) Table() *Table { return m.tbl }

// Inner returns the wrapped state machine.
func (m *Machine) Inner() statemachine.StateMachine { return m.inner }

// OnAcksCommitted sets fn (nil for none) to be called with the body of
// every outbox_ack request the machine applies, on every replica in commit
// order (also while a restart replays the log), so that the dispatcher
// beside the replica stops waiting for those acks (Dispatcher.Committed).
// It is not replicated state and must not change the machine's.
func (m *Machine) OnAcksCommitted(fn func(body []byte)) { m.acksCommitted = fn }

// LocalOnly implements statemachine.LocalOperations: acks come only from
// the primary's dispatcher; from the network they could be forged.
func (m *Machine) LocalOnly(operation wire.Operation) bool {
	return operation == wire.OperationOutboxAck
}

// Validate checks an ack or query body against the table's limits, and
// any other operation with the inner machine.
func (m *Machine) Validate(operation wire.Operation, input []byte) error {
	switch operation {
	case wire.OperationOutboxAck:
		return m.tbl.ValidateAcks(input)
	case wire.OperationOutboxQuery:
		if _, ok := decodeQuery(input); !ok {
			return fmt.Errorf("%w: outbox query body of %d bytes", statemachine.ErrInvalidInput, len(input))
		}
		return nil
	}
	return m.inner.Validate(operation, input)
}

// Apply applies one committed request; see Machine.
func (m *Machine) Apply(ctx *statemachine.Context, operation wire.Operation, input []byte, reply []byte) int {
	switch operation {
	case wire.OperationOutboxAck:
		if ctx.Client != statemachine.LocalClient {
			// The replica applies local-only operations from LocalClient
			// only; answered as a malformed body, changing nothing.
			r := AckReply{Status: AckInvalid}
			return r.put(reply)
		}
		em := m.tbl.Emitter()
		em.Begin(ctx)
		n := m.tbl.ApplyAck(ctx, input, reply)
		em.End()
		if m.acksCommitted != nil {
			m.acksCommitted(input)
		}
		return n
	case wire.OperationOutboxQuery:
		return m.tbl.Query(input, reply)
	}
	em := m.tbl.Emitter()
	em.Begin(ctx)
	n := m.inner.Apply(ctx, operation, input, reply)
	em.End()
	return n
}

// ReplySizeMax is AckReplySize for acks, QueryReplyHeaderSize for queries
// (the least room a query's answer needs: it lists as many effects as fit)
// and the inner machine's bound for the rest.
func (m *Machine) ReplySizeMax(operation wire.Operation, inputSize int) int {
	switch operation {
	case wire.OperationOutboxAck:
		return AckReplySize
	case wire.OperationOutboxQuery:
		return QueryReplyHeaderSize
	}
	return m.inner.ReplySizeMax(operation, inputSize)
}

// Digest combines the inner machine's digest with the table's (sum modulo
// 2^128).
func (m *Machine) Digest() wire.Uint128 { return add128(m.inner.Digest(), m.tbl.Digest()) }

// Snapshot appends the inner machine's snapshot and the table's:
//
//	inner length u64 | inner snapshot | table snapshot (Table.Snapshot)
func (m *Machine) Snapshot(dst []byte) []byte {
	var ends [statemachine.SegmentsMax]int
	dst, _ = m.SnapshotSegments(dst, ends[:0])
	return dst
}

var _ statemachine.SegmentedSnapshot = (*Machine)(nil)

// SnapshotSegments appends the snapshot like Snapshot, cut into the inner
// machine's segments (when it is a statemachine.SegmentedSnapshot) and the
// effect table (one more segment).
func (m *Machine) SnapshotSegments(dst []byte, ends []int) ([]byte, []int) {
	return m.SnapshotOver(dst, ends, 0, 0)
}

// SnapshotOver implements statemachine.StableSnapshot: the inner machine's
// previous snapshot is where its length prefix, still in place, says.
func (m *Machine) SnapshotOver(dst []byte, ends []int, prev, skip int) ([]byte, []int) {
	dst, ends = statemachine.AppendWrapped(m.inner, dst, ends, prev, skip)
	dst = m.tbl.Snapshot(dst)
	return dst, ends
}

// Restore replaces the inner machine's state and the table's with a
// snapshot's. An empty snapshot (the journal's empty blob) restores both
// from empty ones.
func (m *Machine) Restore(snapshot []byte) error { return m.RestoreOmitting(snapshot, 0, nil) }

// RestoreOmitting implements statemachine.GridBacked: Restore, with the
// inner machine's first omitted stable bytes read from its store.
func (m *Machine) RestoreOmitting(snapshot []byte, omitted int, visit func(b []byte)) error {
	if len(snapshot) == 0 {
		if err := m.inner.Restore(nil); err != nil {
			return err
		}
		return m.tbl.Restore(nil)
	}
	if len(snapshot) < 8 {
		return fmt.Errorf("%w: outbox machine snapshot of %d bytes", statemachine.ErrInvalidInput, len(snapshot))
	}
	n := binary.LittleEndian.Uint64(snapshot)
	if n > uint64(len(snapshot)-8) {
		return fmt.Errorf("%w: outbox machine snapshot: inner length %d beyond its %d bytes", statemachine.ErrInvalidInput, n, len(snapshot)-8)
	}
	if err := statemachine.RestoreInner(m.inner, snapshot[8:8+n], omitted, visit); err != nil {
		return err
	}
	return m.tbl.Restore(snapshot[8+n:])
}

// SnapshotSizeMax bounds Snapshot: the length, the inner machine's bound
// and the table's.
func (m *Machine) SnapshotSizeMax() int {
	return MachineSnapshotSizeMax(m.inner.SnapshotSizeMax(), m.tbl.SnapshotSizeMax())
}

// SnapshotStable implements statemachine.StableSnapshot: the inner
// machine's stable segment, when it has one after its first segment (its
// first segment carries this machine's length prefix; the ones after it
// are the inner machine's bytes unchanged). Otherwise nothing is stable.
func (m *Machine) SnapshotStable() (segment, size int) {
	return statemachine.WrappedStable(m.inner)
}

// AppendSnapshotRange implements statemachine.StableSnapshot.
func (m *Machine) AppendSnapshotRange(dst []byte, from, to int) []byte {
	return statemachine.AppendWrappedRange(m.inner, dst, from, to)
}

var _ statemachine.StableSnapshot = (*Machine)(nil)

var _ statemachine.GridBacked = (*Machine)(nil)

// MachineSnapshotSizeMax is a Machine's snapshot bound from its inner
// machine's and its table's.
func MachineSnapshotSizeMax(inner, table int) int { return 8 + inner + table }

var _ statemachine.Admission = (*Machine)(nil)
