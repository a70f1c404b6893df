package sim

import (
	"testing"

	"github.com/chronon-db/chronon/outbox"
	"github.com/chronon-db/chronon/replica"
	"github.com/chronon-db/chronon/wire"
)

func newTestSink() *sink {
	return &sink{keys: map[wire.Uint128]*sinkEntry{}, transfers: map[wire.Uint128]int{}}
}

// TestSinkIsIdempotentAndFenced: a duplicate is answered done without
// applying, a stale token is fenced, a transient failure applies nothing.
func TestSinkIsIdempotentAndFenced(t *testing.T) {
	k, st := newTestSink(), &OutboxStats{}
	key, tr := wire.Uint128{Lo: 1}, wire.Uint128{Lo: 7}
	if out, ok := k.deliver(key, 2, tr, true, st); !ok || out != outbox.OutcomeRetry || st.Applied != 0 {
		t.Fatalf("transient: %v %v %+v", out, ok, st)
	}
	if out, ok := k.deliver(key, 2, tr, false, st); !ok || out != outbox.OutcomeDone || st.Applied != 1 {
		t.Fatalf("first: %v %v %+v", out, ok, st)
	}
	if out, ok := k.deliver(key, 3, tr, false, st); !ok || out != outbox.OutcomeDone || st.Applied != 1 || st.Deduplicated != 1 {
		t.Fatalf("duplicate: %v %v %+v", out, ok, st)
	}
	if _, ok := k.deliver(key, 2, tr, false, st); ok || st.Fenced != 1 {
		t.Fatalf("stale token not fenced: %+v", st)
	}
	if err := k.check(key, tr); err != nil {
		t.Fatal(err)
	}
}

// TestEffectsDuplicateIsCaught feeds a sink that applied a key twice, and
// one transfer under two keys.
func TestEffectsDuplicateIsCaught(t *testing.T) {
	k := newTestSink()
	key, tr := wire.Uint128{Lo: 1}, wire.Uint128{Lo: 7}
	k.keys[key] = &sinkEntry{token: 1, applied: true, applications: 2, transfer: tr}
	k.transfers[tr] = 1
	if err := k.check(key, tr); invariantOf(err) != InvariantEffectsDuplicate {
		t.Fatalf("key applied twice not caught: %v", err)
	}
	k = newTestSink()
	st := &OutboxStats{}
	k.deliver(wire.Uint128{Lo: 1}, 1, tr, false, st)
	k.deliver(wire.Uint128{Lo: 2}, 1, tr, false, st)
	if err := k.check(wire.Uint128{Lo: 2}, tr); invariantOf(err) != InvariantEffectsDuplicate {
		t.Fatalf("transfer applied under two keys not caught: %v", err)
	}
	if err := checkEffects(k, []outbox.Stats{{Emitted: 2, Done: 2}}, nil, -1); invariantOf(err) != InvariantEffectsDuplicate {
		t.Fatalf("final check missed the duplicate: %v", err)
	}
}

// TestEffectsLostIsCaught: an effect left open in a table, a transfer
// never applied at the sink, or an applied transfer the ledger lacks.
func TestEffectsLostIsCaught(t *testing.T) {
	k, st := newTestSink(), &OutboxStats{}
	tr := wire.Uint128{Lo: 7}
	k.deliver(wire.Uint128{Lo: 1}, 1, tr, false, st)
	has := func(id wire.Uint128) bool { return id == tr }
	if err := checkEffects(k, []outbox.Stats{{Emitted: 1, Done: 1}}, has, 1); err != nil {
		t.Fatalf("clean state flagged: %v", err)
	}
	if err := checkEffects(k, []outbox.Stats{{Emitted: 2, Done: 1, Open: 1}}, has, 2); invariantOf(err) != InvariantEffectsLost {
		t.Fatalf("open effect not caught: %v", err)
	}
	if err := checkEffects(k, []outbox.Stats{{Emitted: 2, Done: 2}}, has, 2); invariantOf(err) != InvariantEffectsLost {
		t.Fatalf("effect acknowledged but never applied not caught: %v", err)
	}
	if err := checkEffects(k, []outbox.Stats{{Emitted: 1, Done: 1}}, func(wire.Uint128) bool { return false }, 1); invariantOf(err) != InvariantDispatchUncommitted {
		t.Fatalf("applied transfer the ledger lacks not caught: %v", err)
	}
	k.keys[wire.Uint128{Lo: 9}] = &sinkEntry{token: 1, transfer: wire.Uint128{Lo: 9}}
	if err := checkEffects(k, []outbox.Stats{{Emitted: 1, Done: 1}}, nil, -1); invariantOf(err) != InvariantEffectsLost {
		t.Fatalf("delivered, never applied not caught: %v", err)
	}
}

// TestDispatchNotPrimaryIsCaught: a dispatch from a backup, from a
// replica in view change, with a token other than the view, or of an
// effect of an uncommitted op.
func TestDispatchNotPrimaryIsCaught(t *testing.T) {
	cluster := wire.Uint128{Lo: 5}
	e := outbox.Effect{ID: outbox.EffectID(cluster, 3, 0), Op: 3}
	if err := checkDispatch(0, replica.StatusNormal, true, 4, 4, &e, cluster, 3); err != nil {
		t.Fatalf("legal dispatch flagged: %v", err)
	}
	for _, c := range []struct {
		status  replica.Status
		primary bool
		token   uint32
	}{{replica.StatusNormal, false, 4}, {replica.StatusViewChange, true, 4}, {replica.StatusNormal, true, 3}} {
		if err := checkDispatch(0, c.status, c.primary, 4, c.token, &e, cluster, 3); invariantOf(err) != InvariantDispatchNotPrimary {
			t.Fatalf("%+v not caught: %v", c, err)
		}
	}
	if err := checkDispatch(0, replica.StatusNormal, true, 4, 4, &e, cluster, 2); invariantOf(err) != InvariantDispatchUncommitted {
		t.Fatalf("uncommitted op not caught: %v", err)
	}
	bad := e
	bad.Index = 1
	if err := checkDispatch(0, replica.StatusNormal, true, 4, 4, &bad, cluster, 3); invariantOf(err) != InvariantDispatchUncommitted {
		t.Fatalf("id not derived from (cluster, op, index) not caught: %v", err)
	}
}

// TestOutboxDeterminism: two runs of a ledger seed agree on the outbox's
// counters and fault counts.
func TestOutboxDeterminism(t *testing.T) {
	a := Run(Options{Seed: 12, Workload: WorkloadLedger})
	b := Run(Options{Seed: 12, Workload: WorkloadLedger})
	if a.Stats != b.Stats || a.Fingerprint != b.Fingerprint {
		t.Fatalf("runs differ: %+v / %+v", a.Stats.Outbox, b.Stats.Outbox)
	}
	if a.Stats.Outbox.Applied == 0 {
		t.Fatalf("no effect applied: %+v", a.Stats.Outbox)
	}
}
