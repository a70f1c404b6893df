package outbox

import (
	"fmt"
	"math"

	"github.com/chronon-db/chronon/wire"
)

// EffectsBound is implemented by inner state machines that can bound the
// effects one request emits, from its operation and body alone. A Machine
// whose inner machine implements it takes part in the primary's admission
// (statemachine.Admission) once SetAdmission enabled it.
type EffectsBound interface {
	EffectsBound(operation wire.Operation, input []byte) uint64
}

// SetAdmission makes the primary slow down requests that emit effects
// once the table is more than abovePercent full (1..100; 0 turns admission
// off, the default): the room it grants (AdmissionRoom) shrinks from the
// free slots at that fill to none at a full table, so a writer faster than
// the sink waits in the primary's queue instead of being answered
// "outbox full". It is local policy, not replicated state: only the
// primary's choice of which requests go into its next prepare depends on
// it, never a request's result.
func (m *Machine) SetAdmission(abovePercent int) error {
	if abovePercent < 0 || abovePercent > 100 {
		return fmt.Errorf("%w: admission above %d %% of the outbox, want 0..100", ErrConfig, abovePercent)
	}
	m.admitAbove = abovePercent
	return nil
}

// AdmissionCost implements statemachine.Admission: the effects the
// request may emit, as the inner machine bounds them (EffectsBound); 0
// for acks, queries and machines that do not bound their effects.
func (m *Machine) AdmissionCost(operation wire.Operation, input []byte) uint64 {
	if operation == wire.OperationOutboxAck || operation == wire.OperationOutboxQuery {
		return 0
	}
	if b, ok := m.inner.(EffectsBound); ok {
		return b.EffectsBound(operation, input)
	}
	return 0
}

// AdmissionRoom implements statemachine.Admission: with admission off,
// math.MaxUint64 (no limit); else the table's free slots while it is at
// most SetAdmission's percent full, and above it free² / (slots above the
// threshold): as the table fills, the primary admits a shrinking share of
// what is free, reaching 0 at a full table.
func (m *Machine) AdmissionRoom() uint64 {
	if m.admitAbove == 0 {
		return math.MaxUint64
	}
	capacity := uint64(m.tbl.Cap())
	open := uint64(m.tbl.Len())
	if open >= capacity {
		return 0
	}
	free := capacity - open
	threshold := capacity * uint64(m.admitAbove) / 100
	if open <= threshold || threshold == capacity {
		return free
	}
	return free * free / (capacity - threshold)
}
