package sim

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/chronon-db/chronon/ledger"
	"github.com/chronon-db/chronon/outbox"
	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// machine wraps a real state machine (kv or ledger) and records, per
// client, the last request number applied, so that a request applied twice
// (or out of order) is caught on the replica where it happens. The record
// is part of the machine's snapshot, so it survives checkpoints and
// restarts exactly like the state it guards.
type machine struct {
	// GridForward forwards statemachine.GridBacked to the inner machine.
	statemachine.GridForward
	inner statemachine.StateMachine
	last  map[wire.Uint128]uint32
	// violation describes the first request applied twice, if any.
	violation string
	// effects is the outbox table the ledger emits into (ledger runs):
	// every create_transfers is checked against its fill (checkEffectRoom).
	effects *outbox.Table
	// fullViolation describes the first transfer answered outbox_full
	// with room in the table, or created without its effect.
	fullViolation string
	// blockReads returns the stable block cache's lookups so far (nil:
	// no grid); reads counts the prefetches of lookup_transfers and
	// history queries that read dropped transfers back from the grid,
	// readsFailed those that failed (the replica stalls and repairs).
	blockReads         func() uint64
	reads, readsFailed uint64
}

// Prefetch forwards to the inner machine, counting the reads of the
// ledger workload's old transfers that go to the grid.
func (m *machine) Prefetch(op wire.Operation, input []byte) error {
	if m.blockReads == nil || !isLedgerRead(op) {
		return m.GridForward.Prefetch(op, input)
	}
	before := m.blockReads()
	err := m.GridForward.Prefetch(op, input)
	if err != nil {
		m.readsFailed++
	} else if m.blockReads() > before {
		m.reads++
	}
	return err
}

func isLedgerRead(op wire.Operation) bool {
	return op == ledger.OperationLookupTransfers || op == ledger.OperationGetAccountTransfers || op == ledger.OperationGetAccountBalances
}

func newMachine(inner statemachine.StateMachine) *machine {
	return &machine{GridForward: statemachine.GridForward{Machine: inner}, inner: inner, last: map[wire.Uint128]uint32{}}
}

func (m *machine) Validate(op wire.Operation, input []byte) error {
	return m.inner.Validate(op, input)
}

func (m *machine) Apply(ctx *statemachine.Context, op wire.Operation, input, reply []byte) int {
	if last, ok := m.last[ctx.Client]; ok && ctx.Request <= last && m.violation == "" {
		m.violation = fmt.Sprintf("client %x request %d applied at op %d after request %d was applied", ctx.Client.Lo, ctx.Request, ctx.Op, last)
	}
	m.last[ctx.Client] = max(m.last[ctx.Client], ctx.Request)
	if m.effects == nil || op != ledger.OperationCreateTransfers {
		return m.inner.Apply(ctx, op, input, reply)
	}
	open := m.effects.Len()
	n := m.inner.Apply(ctx, op, input, reply)
	if m.fullViolation == "" {
		m.fullViolation = checkEffectRoom(open, m.effects.Cap(), m.effects.Len(), len(input)/ledger.TransferSize, reply[:n])
		if m.fullViolation != "" {
			m.fullViolation = fmt.Sprintf("op %d (client %x request %d): %s", ctx.Op, ctx.Client.Lo, ctx.Request, m.fullViolation)
		}
	}
	return n
}

// checkEffectRoom checks one create_transfers against the outbox's rule
// (ledger.Config.Effects): with the table holding open of capacity effects
// before the request, events are taken in order, each created transfer
// emitting one effect; an event is answered outbox_full exactly when the
// table has no room left for it, and a created one finds room. After the
// request the table holds openAfter: one effect more per created
// transfer. results is the reply (the events that were not created).
// It returns "" or what broke the rule.
func checkEffectRoom(open, capacity, openAfter, events int, results []byte) string {
	if len(results)%ledger.EventResultSize != 0 {
		return fmt.Sprintf("create_transfers reply of %d bytes", len(results))
	}
	room := capacity - open
	next := 0
	for i := 0; i < events; i++ {
		result := ledger.ResultOK
		if next < len(results) {
			if r := ledger.DecodeEventResult(results[next:]); int(r.Index) == i {
				result = r.Result
				next += ledger.EventResultSize
			}
		}
		switch {
		case result == ledger.ResultOutboxFull && room > 0:
			return fmt.Sprintf("event %d answered outbox_full with room for %d effects (%d of %d open before the request)", i, room, open, capacity)
		case result == ledger.ResultOK && room <= 0:
			return fmt.Sprintf("event %d created with the outbox full (%d of %d open before the request)", i, open, capacity)
		case result == ledger.ResultOK:
			room--
		}
	}
	if next != len(results) {
		return fmt.Sprintf("create_transfers reply names events out of order or beyond the %d sent", events)
	}
	if created := capacity - open - room; openAfter != open+created {
		return fmt.Sprintf("%d transfers created, but the outbox went from %d to %d open effects", created, open, openAfter)
	}
	return ""
}

// EffectsBound forwards the inner machine's bound (outbox.EffectsBound),
// so the outbox.Machine around the wrapper takes part in admission as it
// does around the bare ledger in node; 0 for a machine without one.
func (m *machine) EffectsBound(op wire.Operation, input []byte) uint64 {
	if b, ok := m.inner.(outbox.EffectsBound); ok {
		return b.EffectsBound(op, input)
	}
	return 0
}

var _ outbox.EffectsBound = (*machine)(nil)

func (m *machine) ReplySizeMax(op wire.Operation, n int) int { return m.inner.ReplySizeMax(op, n) }
func (m *machine) Digest() wire.Uint128                      { return m.inner.Digest() }

// machineClientsMax bounds the client ids a machine's record holds, for
// SnapshotSizeMax only (the simulator checks no grid against it):
// simulated clients are a handful.
const machineClientsMax = 1 << 16

// SnapshotSizeMax bounds Snapshot: the inner machine's, its length, and
// the per-client record.
func (m *machine) SnapshotSizeMax() int {
	return 8 + m.inner.SnapshotSizeMax() + 8 + machineClientsMax*20
}

// Snapshot appends: inner size u64 | inner | count u64 | (id u128, last u32)*
// sorted by id.
func (m *machine) Snapshot(dst []byte) []byte {
	dst, _ = m.SnapshotSegments(dst, nil)
	return dst
}

// SnapshotSegments cuts the snapshot as the inner machine cuts its own
// (shifted by the length prefix) plus the per-client record, so the
// checkpoints of the simulated replicas share and write blocks ahead as the
// product's do.
func (m *machine) SnapshotSegments(dst []byte, ends []int) ([]byte, []int) {
	return m.SnapshotOver(dst, ends, 0, 0)
}

// SnapshotOver forwards to the inner machine with its previous snapshot's
// length, read from the length prefix still in place.
func (m *machine) SnapshotOver(dst []byte, ends []int, prev, skip int) ([]byte, []int) {
	dst, ends = statemachine.AppendWrapped(m.inner, dst, ends, prev, skip)
	dst = m.appendClients(dst)
	return dst, ends
}

// SnapshotStable forwards the inner machine's stable segment (see
// outbox.Machine.SnapshotStable).
func (m *machine) SnapshotStable() (segment, size int) {
	return statemachine.WrappedStable(m.inner)
}

// AppendSnapshotRange forwards to the inner machine.
func (m *machine) AppendSnapshotRange(dst []byte, from, to int) []byte {
	return statemachine.AppendWrappedRange(m.inner, dst, from, to)
}

func (m *machine) appendClients(dst []byte) []byte {
	ids := make([]wire.Uint128, 0, len(m.last))
	for id := range m.last {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, wire.Uint128.Compare)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(len(ids)))
	for _, id := range ids {
		dst = binary.LittleEndian.AppendUint64(dst, id.Lo)
		dst = binary.LittleEndian.AppendUint64(dst, id.Hi)
		dst = binary.LittleEndian.AppendUint32(dst, m.last[id])
	}
	return dst
}

func (m *machine) Restore(b []byte) error { return m.RestoreOmitting(b, 0, nil) }

// RestoreOmitting forwards the omitted stable bytes to the inner machine.
func (m *machine) RestoreOmitting(b []byte, omitted int, visit func([]byte)) error {
	clear(m.last)
	if len(b) == 0 {
		return m.inner.Restore(nil)
	}
	if len(b) < 8 {
		return statemachine.ErrInvalidInput
	}
	n := binary.LittleEndian.Uint64(b)
	b = b[8:]
	if uint64(len(b)) < n+8 {
		return statemachine.ErrInvalidInput
	}
	if err := statemachine.RestoreInner(m.inner, b[:n], omitted, visit); err != nil {
		return err
	}
	b = b[n:]
	count := binary.LittleEndian.Uint64(b)
	b = b[8:]
	if uint64(len(b)) != count*20 {
		return statemachine.ErrInvalidInput
	}
	for ; count > 0; count-- {
		id := wire.Uint128{Lo: binary.LittleEndian.Uint64(b), Hi: binary.LittleEndian.Uint64(b[8:])}
		m.last[id] = binary.LittleEndian.Uint32(b[16:])
		b = b[20:]
	}
	return nil
}
