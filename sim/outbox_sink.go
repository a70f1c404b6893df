package sim

import (
	"github.com/chronon-db/chronon/outbox"
	"github.com/chronon-db/chronon/wire"
)

// sinkEntry is what the sink remembers of one idempotency key.
type sinkEntry struct {
	token        uint32 // highest fencing token seen
	applied      bool
	applications int
	transfer     wire.Uint128
}

// sink is the simulated idempotent receiver, one per cluster, outside the
// replicas (it survives their crashes). Like outbox.Receiver it keeps, per
// key, the highest fencing token seen: a delivery with a lower token is
// fenced (rejected, no answer); a delivery of an applied key is answered
// done without applying again; otherwise it applies the effect once.
type sink struct {
	keys map[wire.Uint128]*sinkEntry
	// transfers counts applications per ledger transfer id (the payload),
	// catching one transfer emitted under two keys.
	transfers map[wire.Uint128]int
}

// deliver processes one delivery of key with the given token. transient
// makes the application fail with a retryable error after the fence (as a
// handler answering 5xx would: nothing is stored). It returns the outcome
// to answer, and false when the delivery was fenced.
func (k *sink) deliver(key wire.Uint128, token uint32, transfer wire.Uint128, transient bool, st *OutboxStats) (outbox.Outcome, bool) {
	e := k.keys[key]
	if e == nil {
		e = &sinkEntry{transfer: transfer}
		k.keys[key] = e
	}
	if token < e.token {
		st.Fenced++
		return 0, false
	}
	e.token = token
	if transient {
		return outbox.OutcomeRetry, true
	}
	if e.applied {
		st.Deduplicated++
		return outbox.OutcomeDone, true
	}
	e.applied = true
	e.applications++
	k.transfers[transfer]++
	st.Applied++
	return outbox.OutcomeDone, true
}

// check fails with InvariantEffectsDuplicate if key, or the transfer its
// payload carries, was applied more than once.
func (k *sink) check(key, transfer wire.Uint128) error {
	if e := k.keys[key]; e != nil && e.applications > 1 {
		return violation(InvariantEffectsDuplicate, "sink applied effect %x:%x %d times", key.Hi, key.Lo, e.applications)
	}
	if n := k.transfers[transfer]; n > 1 {
		return violation(InvariantEffectsDuplicate, "sink applied transfer %x:%x %d times (under different keys)", transfer.Hi, transfer.Lo, n)
	}
	return nil
}
