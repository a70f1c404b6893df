package sim

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// machine wraps a real state machine (kv or ledger) and records, per
// client, the last request number applied, so that a request applied twice
// (or out of order) is caught on the replica where it happens. The record
// is part of the machine's snapshot, so it survives checkpoints and
// restarts exactly like the state it guards.
type machine struct {
	inner statemachine.StateMachine
	last  map[wire.Uint128]uint32
	// violation describes the first request applied twice, if any.
	violation string
}

func newMachine(inner statemachine.StateMachine) *machine {
	return &machine{inner: inner, last: map[wire.Uint128]uint32{}}
}

func (m *machine) Validate(op wire.Operation, input []byte) error {
	return m.inner.Validate(op, input)
}

func (m *machine) Apply(ctx *statemachine.Context, op wire.Operation, input, reply []byte) int {
	if last, ok := m.last[ctx.Client]; ok && ctx.Request <= last && m.violation == "" {
		m.violation = fmt.Sprintf("client %x request %d applied at op %d after request %d was applied", ctx.Client.Lo, ctx.Request, ctx.Op, last)
	}
	m.last[ctx.Client] = max(m.last[ctx.Client], ctx.Request)
	return m.inner.Apply(ctx, op, input, reply)
}

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
	return m.SnapshotOver(dst, ends, 0)
}

// SnapshotOver forwards to the inner machine with its previous snapshot's
// length, read from the length prefix still in place.
func (m *machine) SnapshotOver(dst []byte, ends []int, prev int) ([]byte, []int) {
	dst, ends = statemachine.AppendWrapped(m.inner, dst, ends, prev)
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

// SetStableStore forwards to the inner machine (statemachine.GridBacked).
func (m *machine) SetStableStore(s statemachine.StableStore) {
	statemachine.ForwardSetStableStore(m.inner, s)
}

// StableOmitted forwards to the inner machine.
func (m *machine) StableOmitted() int { return statemachine.ForwardStableOmitted(m.inner) }

// ReadSnapshotRange forwards to the inner machine.
func (m *machine) ReadSnapshotRange(dst []byte, from, to int) ([]byte, error) {
	return statemachine.ForwardReadSnapshotRange(m.inner, dst, from, to)
}

// RepairStable forwards to the inner machine.
func (m *machine) RepairStable(from int, b []byte) error {
	return statemachine.ForwardRepairStable(m.inner, from, b)
}

// PrefetchCost implements statemachine.GridBacked (forwarded).
func (m *machine) PrefetchCost(operation wire.Operation, input []byte) int {
	return statemachine.ForwardPrefetchCost(m.inner, operation, input)
}

// PrefetchCapacity implements statemachine.GridBacked (forwarded).
func (m *machine) PrefetchCapacity() int { return statemachine.ForwardPrefetchCapacity(m.inner) }

// ScrubStable implements statemachine.GridBacked (forwarded).
func (m *machine) ScrubStable(from int) (int, error) {
	return statemachine.ForwardScrubStable(m.inner, from)
}

// PrefetchReset forwards to the inner machine.
func (m *machine) PrefetchReset() { statemachine.ForwardPrefetchReset(m.inner) }

// Prefetch forwards to the inner machine.
func (m *machine) Prefetch(op wire.Operation, input []byte) error {
	return statemachine.ForwardPrefetch(m.inner, op, input)
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

func (m *machine) Restore(b []byte) error { return m.RestoreOmitting(b, 0) }

// RestoreOmitting forwards the omitted stable bytes to the inner machine.
func (m *machine) RestoreOmitting(b []byte, omitted int) error {
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
	if err := statemachine.RestoreInner(m.inner, b[:n], omitted); err != nil {
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
