package outbox

import (
	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// slot holds one effect; used false marks a free slot. Target, payload and
// result live in the table's arena at slot × stride.
type slot struct {
	id          wire.Uint128
	hash        wire.Uint128 // record hash, part of the digest sum
	op          uint64
	created     uint64
	next        uint64
	index       uint32
	attempts    uint32
	view        uint32
	kind        Kind
	reason      Reason
	targetSize  uint16
	payloadSize uint16
	resultSize  uint16
	state       State
	used        bool
}

// Observer is told, during ApplyAck, about every effect that reaches a
// terminal state (StateDone or StateFailed), just before the table forgets
// it. It runs inside the deterministic apply: it must be deterministic and
// must not retain e's slices. A state machine implements it to react to
// outcomes (e.g. mark an order as "email sent").
type Observer interface {
	EffectFinished(ctx *statemachine.Context, e *Effect)
}

// Table is the replicated outbox: a bounded, deterministic set of effects
// with all memory allocated by NewTable. It is not safe for concurrent use;
// the replica calls it from its event loop only.
type Table struct {
	cfg    Config
	stride int // arena bytes per slot

	slots []slot
	arena []byte
	free  []uint32 // stack of free slots
	index index
	count int

	// Counters since the table's beginning; replicated state.
	emitted, done, failed uint64

	// sum is the sum modulo 2^128 of the record hashes of all effects.
	sum wire.Uint128
	// failures keeps the most recent permanently failed effects.
	failures failures

	scratch  []byte   // one encoded record, for hashing
	order    []uint32 // scratch list of slots for Due and Snapshot
	emitter  Emitter
	observer Observer
}

// NewTable returns an empty table with all memory for cfg allocated.
func NewTable(cfg Config) (*Table, error) {
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	stride := cfg.TargetSizeMax + cfg.PayloadSizeMax + cfg.ResultSizeMax
	t := &Table{
		cfg:     cfg,
		stride:  stride,
		slots:   make([]slot, cfg.EffectsMax),
		arena:   make([]byte, cfg.EffectsMax*stride),
		free:    make([]uint32, 0, cfg.EffectsMax),
		index:   newIndex(cfg.EffectsMax),
		scratch: make([]byte, recordHeaderSize+stride),
		order:   make([]uint32, 0, cfg.EffectsMax+cfg.FailedKeep),

		failures: newFailures(cfg.FailedKeep, stride),
	}
	t.emitter.t = t
	t.Reset()
	return t, nil
}

// Config returns the table's configuration with defaults filled in.
func (t *Table) Config() Config { return t.cfg }

// Reset empties the table and its counters.
func (t *Table) Reset() {
	clear(t.slots)
	t.index.reset()
	t.free = t.free[:0]
	for i := len(t.slots) - 1; i >= 0; i-- {
		t.free = append(t.free, uint32(i))
	}
	t.count = 0
	t.emitted, t.done, t.failed = 0, 0, 0
	t.sum = wire.Uint128{}
	t.failures.reset()
	t.emitter.reset()
}

// SetObserver installs the observer told about finished effects (nil for
// none). The observer is not replicated state: every replica must install
// the same one before applying.
func (t *Table) SetObserver(o Observer) { t.observer = o }

// Len returns the number of effects in the table.
func (t *Table) Len() int { return t.count }

// Cap returns EffectsMax.
func (t *Table) Cap() int { return len(t.slots) }

// SnapshotSizeMax bounds the length of what Snapshot appends: EffectsMax
// open and FailedKeep failed effects, each of the largest target, payload
// and result the config allows.
func (t *Table) SnapshotSizeMax() int { return tableSnapshotSizeMax(t.cfg) }

// TableSnapshotSizeMax returns the snapshot bound of a table built with cfg
// (NewTable's defaults filled in) without building it, or cfg's error.
func TableSnapshotSizeMax(cfg Config) (int, error) {
	if err := cfg.normalize(); err != nil {
		return 0, err
	}
	return tableSnapshotSizeMax(cfg), nil
}

func tableSnapshotSizeMax(cfg Config) int {
	stride := cfg.TargetSizeMax + cfg.PayloadSizeMax + cfg.ResultSizeMax
	return snapshotHeaderSize + (cfg.EffectsMax+cfg.FailedKeep)*(recordHeaderSize+stride) + snapshotTrailer
}

// Stats are the table's counters since its beginning.
type Stats struct {
	Emitted, Done, Failed uint64
	// Open is the number of effects in the table (pending or retry).
	Open int
	// Kept is the number of failed effects kept for inspection (at most
	// Config.FailedKeep, the most recent ones).
	Kept int
}

// Stats returns the table's counters.
func (t *Table) Stats() Stats {
	return Stats{Emitted: t.emitted, Done: t.done, Failed: t.failed, Open: t.count, Kept: t.failures.n}
}

// OldestCreated returns the commit timestamp (ns) of the oldest open
// effect, or false if none is open: the outbox's lag. It scans the table.
func (t *Table) OldestCreated() (uint64, bool) {
	var oldest uint64
	found := false
	for i := range t.slots {
		s := &t.slots[i]
		if s.used && (!found || s.created < oldest) {
			oldest, found = s.created, true
		}
	}
	return oldest, found
}

// Get returns the effect with the given id. The effect's slices alias the
// table's memory (see Effect).
func (t *Table) Get(id wire.Uint128) (Effect, bool) {
	i, ok := t.index.find(t.slots, id)
	if !ok {
		return Effect{}, false
	}
	return t.effect(i), true
}

// bytesOf returns slot i's target, payload and result arena regions.
func (t *Table) bytesOf(i uint32) (target, payload, result []byte) {
	return t.regions(t.arena, int(i), &t.slots[i])
}

// regions returns the target, payload and result of entry i of arena (one
// stride per entry), sized as s says.
func (t *Table) regions(arena []byte, i int, s *slot) (target, payload, result []byte) {
	base := i * t.stride
	target = arena[base : base+int(s.targetSize)]
	base += t.cfg.TargetSizeMax
	payload = arena[base : base+int(s.payloadSize)]
	base += t.cfg.PayloadSizeMax
	result = arena[base : base+int(s.resultSize)]
	return target, payload, result
}

// effect returns slot i as an Effect aliasing the arena.
func (t *Table) effect(i uint32) Effect {
	target, payload, result := t.bytesOf(i)
	return slotEffect(&t.slots[i], target, payload, result)
}

// slotEffect returns s with the given bytes as an Effect.
func slotEffect(s *slot, target, payload, result []byte) Effect {
	return Effect{
		ID: s.id, Op: s.op, Index: s.index, Kind: s.kind, State: s.state,
		Reason: s.reason, Attempts: s.attempts, View: s.view,
		Created: s.created, NextAttempt: s.next,
		Target: target, Payload: payload, Result: result,
	}
}

// insert takes a free slot for a new effect with the given fields and
// returns it; the caller checked for room and duplicates.
func (t *Table) insert(id wire.Uint128, op uint64, index uint32, kind Kind, ts uint64, target, payload []byte) uint32 {
	i := t.free[len(t.free)-1]
	t.free = t.free[:len(t.free)-1]
	t.slots[i] = slot{
		id: id, op: op, index: index, kind: kind, created: ts, next: ts,
		targetSize: uint16(len(target)), payloadSize: uint16(len(payload)), used: true,
	}
	base := int(i) * t.stride
	copy(t.arena[base:], target)
	copy(t.arena[base+t.cfg.TargetSizeMax:], payload)
	t.index.insert(t.slots, i)
	t.count++
	t.rehash(i)
	return i
}

// setResult replaces slot i's result bytes, truncated to ResultSizeMax.
func (t *Table) setResult(i uint32, result []byte) {
	if len(result) > t.cfg.ResultSizeMax {
		result = result[:t.cfg.ResultSizeMax]
	}
	base := int(i)*t.stride + t.cfg.TargetSizeMax + t.cfg.PayloadSizeMax
	copy(t.arena[base:], result)
	t.slots[i].resultSize = uint16(len(result))
}

// remove frees slot i and takes its hash out of the digest sum.
func (t *Table) remove(i uint32) {
	t.sum = sub128(t.sum, t.slots[i].hash)
	t.index.remove(t.slots, i)
	t.slots[i] = slot{}
	t.free = append(t.free, i)
	t.count--
}
