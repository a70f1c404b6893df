package outbox

import (
	"encoding/binary"
	"strconv"

	"github.com/chronon-db/chronon/wire"
	"github.com/zeebo/xxh3"
)

// Kind tells the sink what an effect is (email, webhook, ...). Its meaning
// belongs to the state machine; KindSink routes on it.
type Kind uint16

// State is where an effect stands in the replicated table.
type State uint8

// States. Only StatePending and StateRetry effects live in the table; an
// ack that makes an effect StateDone or StateFailed removes it, after the
// table's Observer has seen it.
//
// "Dispatched in view v" is deliberately not a replicated state: recording
// each dispatch through consensus would cost an op per attempt, and fencing
// makes it unnecessary. The Dispatcher of the primary of view v holds it in
// memory; after a failover the new primary re-dispatches with a higher
// token and the sink deduplicates by key.
const (
	// StatePending: committed, never acknowledged; due at its commit time.
	StatePending State = 0
	// StateRetry: at least one attempt was acknowledged as a transient
	// failure; due again at NextAttempt.
	StateRetry State = 1
	// StateDone: an attempt succeeded (terminal).
	StateDone State = 2
	// StateFailed: an attempt failed permanently, or AttemptsMax attempts
	// failed (terminal); Reason says why.
	StateFailed State = 3
)

// String returns the state's name.
func (s State) String() string {
	switch s {
	case StatePending:
		return "pending"
	case StateRetry:
		return "retry"
	case StateDone:
		return "done"
	case StateFailed:
		return "failed"
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// Reason says why an effect failed permanently. Values below 1000 are
// Chronon's; ReasonHTTP+status is an HTTP status code; applications may use
// 2000 and above.
type Reason uint16

// Reasons.
const (
	ReasonNone              Reason = 0
	ReasonAttemptsExhausted Reason = 1
	ReasonBadTarget         Reason = 2
	ReasonNoSink            Reason = 3
	ReasonRejected          Reason = 4
	ReasonHTTP              Reason = 1000
	ReasonUserMin           Reason = 2000
)

// String names the reason as tools print it: "attempts_exhausted",
// "http_404", "user_2001", ...
func (r Reason) String() string {
	switch {
	case r == ReasonNone:
		return "none"
	case r == ReasonAttemptsExhausted:
		return "attempts_exhausted"
	case r == ReasonBadTarget:
		return "bad_target"
	case r == ReasonNoSink:
		return "no_sink"
	case r == ReasonRejected:
		return "rejected"
	case r >= ReasonUserMin:
		return "user_" + strconv.Itoa(int(r))
	case r >= ReasonHTTP:
		return "http_" + strconv.Itoa(int(r-ReasonHTTP))
	}
	return "reason_" + strconv.Itoa(int(r))
}

// Effect is one side effect as the table holds it. Target, Payload and
// Result alias the table's memory when returned by Table methods: they are
// valid until the table next changes, and must be copied to be kept.
type Effect struct {
	// ID is derived from (cluster, Op, Index) by EffectID; it is the
	// idempotency key.
	ID wire.Uint128
	// Op is the op of the prepare whose commit emitted the effect; Index is
	// the effect's position among the effects emitted by that op.
	Op    uint64
	Index uint32
	Kind  Kind
	State State
	// Reason is set when State is StateFailed.
	Reason Reason
	// Attempts counts attempts acknowledged as transient failures.
	Attempts uint32
	// View is the fencing token of the last acknowledged attempt, 0 if none.
	View uint32
	// Created is the commit timestamp (ns) of the emitting request.
	Created uint64
	// NextAttempt is the commit-time (ns) at which the effect is due.
	NextAttempt uint64
	Target      []byte
	Payload     []byte
	// Result is what the last acknowledged attempt returned, if anything.
	Result []byte
}

// Key returns the idempotency key: the id as 32 lowercase hex digits.
func (e *Effect) Key() string { return e.ID.String() }

// seedID seeds the id hash, separating it from other xxh3 uses.
const seedID = 0x636872_6e6f6e_6f62 // "chronon ob"

// EffectID derives the id of the index-th effect emitted by op in cluster:
// xxh3-128 (seeded) of cluster (16 bytes LE) | op (u64 LE) | index (u32 LE).
func EffectID(cluster wire.Uint128, op uint64, index uint32) wire.Uint128 {
	var b [28]byte
	binary.LittleEndian.PutUint64(b[0:], cluster.Lo)
	binary.LittleEndian.PutUint64(b[8:], cluster.Hi)
	binary.LittleEndian.PutUint64(b[16:], op)
	binary.LittleEndian.PutUint32(b[24:], index)
	h := xxh3.Hash128Seed(b[:], seedID)
	return wire.Uint128{Lo: h.Lo, Hi: h.Hi}
}

// ParseKey parses an idempotency key made by Effect.Key.
func ParseKey(s string) (wire.Uint128, bool) {
	if len(s) != 32 {
		return wire.Uint128{}, false
	}
	hi, err1 := strconv.ParseUint(s[:16], 16, 64)
	lo, err2 := strconv.ParseUint(s[16:], 16, 64)
	if err1 != nil || err2 != nil {
		return wire.Uint128{}, false
	}
	return wire.Uint128{Lo: lo, Hi: hi}, true
}
