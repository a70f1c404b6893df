package sim

import (
	"slices"

	"github.com/chronon-db/chronon/outbox"
	"github.com/chronon-db/chronon/replica"
	"github.com/chronon-db/chronon/wire"
)

// Outbox invariants.
const (
	// InvariantEffectsLost: every effect of a committed op ends done (the
	// receiver applied it) once faults healed, and every table drains.
	InvariantEffectsLost = "effects_lost"
	// InvariantEffectsDuplicate: the receiver applies no key (and no
	// transfer) twice.
	InvariantEffectsDuplicate = "effects_duplicate"
	// InvariantDispatchNotPrimary: only the normal primary of its current
	// view dispatches, with that view as the fencing token.
	InvariantDispatchNotPrimary = "dispatch_not_primary"
	// InvariantDispatchUncommitted: a dispatched effect derives from
	// (cluster, op, index) of an op the cluster committed.
	InvariantDispatchUncommitted = "dispatch_uncommitted"
	// InvariantOutboxFull: a transfer is answered outbox_full exactly
	// when, as its op is applied, the outbox has no room for its effect
	// (every replica, every op; checkEffectRoom), and a transfer answered
	// outbox_full is never created (the final ledger audit). Admission
	// changes when a request is prepared, never this rule.
	InvariantOutboxFull = "outbox_full"
)

// checkDispatch is asserted for every delivery a dispatcher starts: the
// replica is the normal primary of view, the token is view, and the
// effect belongs to a committed op (committed is the highest op committed
// cluster-wide) with the id derived from it.
func checkDispatch(replicaIndex int, status replica.Status, primary bool, view, token uint32, e *outbox.Effect, cluster wire.Uint128, committed uint64) error {
	if status != replica.StatusNormal || !primary || token != view {
		return violation(InvariantDispatchNotPrimary, "replica %d dispatched effect %x with token %d while in view %d, status %v, primary %v",
			replicaIndex, e.ID.Lo, token, view, status, primary)
	}
	if e.Op == 0 || e.Op > committed || e.ID != outbox.EffectID(cluster, e.Op, e.Index) {
		return violation(InvariantDispatchUncommitted, "replica %d dispatched effect %x of op %d index %d; committed up to op %d",
			replicaIndex, e.ID.Lo, e.Op, e.Index, committed)
	}
	return nil
}

// checkEffects runs at the end of a converged run: every replica's table
// is empty with emitted = done (no failures: the receiver never fails
// permanently), the receiver applied exactly one effect per key and per
// transfer, and the transfers it applied are exactly the ledger's.
// ledgerHas reports whether the final ledger holds a transfer; transfers
// is the number it holds (-1 without a ledger workload).
func checkEffects(k *sink, tables []outbox.Stats, ledgerHas func(wire.Uint128) bool, transfers int) error {
	for i, st := range tables {
		if st.Open != 0 || st.Failed != 0 || st.Emitted != st.Done {
			return violation(InvariantEffectsLost, "replica %d's outbox: emitted %d, done %d, failed %d, open %d", i, st.Emitted, st.Done, st.Failed, st.Open)
		}
		if transfers >= 0 && st.Emitted != uint64(transfers) {
			return violation(InvariantEffectsLost, "replica %d's outbox emitted %d effects for %d transfers", i, st.Emitted, transfers)
		}
	}
	keys := make([]wire.Uint128, 0, len(k.keys))
	for key := range k.keys {
		keys = append(keys, key)
	}
	slices.SortFunc(keys, wire.Uint128.Compare)
	applied := 0
	for _, key := range keys {
		e := k.keys[key]
		if err := k.check(key); err != nil {
			return err
		}
		if ledgerHas != nil && !ledgerHas(e.transfer) {
			return violation(InvariantDispatchUncommitted, "receiver applied effect %x:%x for transfer %x:%x, which the ledger does not hold", key.Hi, key.Lo, e.transfer.Hi, e.transfer.Lo)
		}
		applied++
	}
	for i, st := range tables {
		if st.Done != uint64(applied) {
			return violation(InvariantEffectsLost, "replica %d acknowledged %d effects done; the receiver applied %d", i, st.Done, applied)
		}
	}
	if transfers >= 0 && applied != transfers {
		return violation(InvariantEffectsLost, "the ledger holds %d transfers; the receiver applied %d effects", transfers, applied)
	}
	return nil
}

// checkOutbox runs checkEffects on the converged cluster.
func (s *Sim) checkOutbox() {
	tables := make([]outbox.Stats, len(s.hosts))
	for i, h := range s.hosts {
		tables[i] = h.outbox.Stats()
	}
	transfers := -1
	var has func(wire.Uint128) bool
	if l := s.hosts[0].ledger; l != nil {
		transfers = l.TransfersCount()
		has = func(id wire.Uint128) bool { _, ok := l.Transfer(id); return ok }
	}
	err := checkEffects(s.outbox.sink, tables, has, transfers)
	if violated(err) == InvariantEffectsDuplicate {
		s.stats.Outbox.DuplicateApplications++
	}
	s.fail(err)
}

// violated returns the invariant err violates ("" for nil or another
// error).
func violated(err error) string {
	if v, ok := err.(*Violation); ok {
		return v.Invariant
	}
	return ""
}
