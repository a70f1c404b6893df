package sim

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/chronon-db/chronon/ledger"
	"github.com/chronon-db/chronon/outbox"
	"github.com/chronon-db/chronon/replica"
	"github.com/chronon-db/chronon/wire"
)

// newTestSink returns a sink whose handler fails transiently while *fail.
func newTestSink(fail *bool) *sink {
	return newSink(func() bool { return *fail })
}

// delivery is an attempt of key with token carrying transfer as payload.
func delivery(key wire.Uint128, token uint32, transfer wire.Uint128) outbox.Delivery {
	payload := make([]byte, 16)
	binary.LittleEndian.PutUint64(payload, transfer.Lo)
	binary.LittleEndian.PutUint64(payload[8:], transfer.Hi)
	return outbox.Delivery{ID: key, Key: key.String(), Token: token, Attempt: 1, Target: outboxTarget, Payload: payload}
}

// TestSinkIsIdempotentAndFenced: through the HTTPSink and the Receiver, a
// duplicate is answered from the store without applying, a stale token is
// fenced, a transient failure applies nothing.
func TestSinkIsIdempotentAndFenced(t *testing.T) {
	transient := true
	k, st := newTestSink(&transient), &Stats{}
	key, tr := wire.Uint128{Lo: 1, Hi: 3}, wire.Uint128{Lo: 7}
	if _, err := k.deliver(delivery(key, 2, tr), st); err == nil || errors.Is(err, outbox.ErrFenced) || st.Outbox.Applied != 0 {
		t.Fatalf("transient: %v %+v", err, st.Outbox)
	}
	transient = false
	if res, err := k.deliver(delivery(key, 2, tr), st); err != nil || string(res) != "applied" || st.Outbox.Applied != 1 {
		t.Fatalf("first: %q %v %+v", res, err, st.Outbox)
	}
	if res, err := k.deliver(delivery(key, 3, tr), st); err != nil || string(res) != "applied" || st.Outbox.Applied != 1 || st.Outbox.Deduplicated != 1 {
		t.Fatalf("duplicate: %q %v %+v", res, err, st.Outbox)
	}
	if _, err := k.deliver(delivery(key, 2, tr), st); !errors.Is(err, outbox.ErrFenced) || st.Outbox.Fenced != 1 {
		t.Fatalf("stale token not fenced: %v %+v", err, st.Outbox)
	}
	if err := k.check(key); err != nil {
		t.Fatal(err)
	}
	if st.Faults[FaultSinkTransientFailure] != 1 || k.file.syncs == 0 {
		t.Fatalf("transient failures %d, store syncs %d", st.Faults[FaultSinkTransientFailure], k.file.syncs)
	}
}

// TestEffectsDuplicateIsCaught feeds a sink that applied a key twice, and
// one transfer under two keys.
func TestEffectsDuplicateIsCaught(t *testing.T) {
	no := false
	k := newTestSink(&no)
	key, tr := wire.Uint128{Lo: 1}, wire.Uint128{Lo: 7}
	k.keys[key] = &sinkEntry{applications: 2, transfer: tr}
	k.transfers[tr] = 1
	if err := k.check(key); invariantOf(err) != InvariantEffectsDuplicate {
		t.Fatalf("key applied twice not caught: %v", err)
	}
	k = newTestSink(&no)
	st := &Stats{}
	k.deliver(delivery(wire.Uint128{Lo: 1}, 1, tr), st)
	k.deliver(delivery(wire.Uint128{Lo: 2}, 1, tr), st)
	if err := k.check(wire.Uint128{Lo: 2}); invariantOf(err) != InvariantEffectsDuplicate {
		t.Fatalf("transfer applied under two keys not caught: %v", err)
	}
	if err := checkEffects(k, []outbox.Stats{{Emitted: 2, Done: 2}}, nil, -1); invariantOf(err) != InvariantEffectsDuplicate {
		t.Fatalf("final check missed the duplicate: %v", err)
	}
}

// TestEffectsLostIsCaught: an effect left open in a table, an effect
// acknowledged done that the receiver never applied, or an applied
// transfer the ledger lacks.
func TestEffectsLostIsCaught(t *testing.T) {
	no := false
	k, st := newTestSink(&no), &Stats{}
	tr := wire.Uint128{Lo: 7}
	k.deliver(delivery(wire.Uint128{Lo: 1}, 1, tr), st)
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

// TestReceiverCrash: a receiver crashed inside the fsync of a fence record
// answers 503 without applying; reopened on the torn store it has dropped
// the torn record and kept the rest: an applied key is replayed, not
// applied again, and the other key is applied once.
func TestReceiverCrash(t *testing.T) {
	no := false
	k, st := newTestSink(&no), &Stats{}
	a, b, tr := wire.Uint128{Lo: 1}, wire.Uint128{Lo: 2}, wire.Uint128{Lo: 7}
	if _, err := k.deliver(delivery(a, 1, tr), st); err != nil {
		t.Fatal(err)
	}
	k.file.armed = true
	if _, err := k.deliver(delivery(b, 1, wire.Uint128{Lo: 8}), st); err == nil || !k.file.crashed || st.Outbox.Applied != 1 {
		t.Fatalf("armed fsync: %v, crashed %v, %+v", err, k.file.crashed, st.Outbox)
	}
	// A crash that keeps part of the fence record: a torn tail.
	data, synced := append([]byte(nil), k.file.data...), k.file.synced
	for seed := uint64(0); ; seed++ {
		k.file.data, k.file.synced = append(k.file.data[:0], data...), synced
		if torn := k.file.crash(rand.New(rand.NewPCG(seed, 1))); torn > 0 && torn < len(data)-synced {
			break
		}
	}
	if err := k.reopen(); err != nil {
		t.Fatal(err)
	}
	for _, d := range []outbox.Delivery{delivery(a, 1, tr), delivery(b, 1, wire.Uint128{Lo: 8})} {
		if _, err := k.deliver(d, st); err != nil {
			t.Fatal(err)
		}
	}
	if st.Outbox.Applied != 2 || st.Outbox.Deduplicated != 1 || k.check(a) != nil || k.check(b) != nil {
		t.Fatalf("after the restart: %+v", st.Outbox)
	}
}

// TestCheckEffectRoom: the outbox_full rule as every replica checks it
// per create_transfers: outbox_full exactly when no room is left for the
// event's effect, one effect per created transfer.
func TestCheckEffectRoom(t *testing.T) {
	reply := func(rs ...ledger.EventResult) []byte {
		b := make([]byte, len(rs)*ledger.EventResultSize)
		for i, r := range rs {
			r.Encode(b[i*ledger.EventResultSize:])
		}
		return b
	}
	full := func(i uint32) ledger.EventResult {
		return ledger.EventResult{Index: i, Result: ledger.ResultOutboxFull}
	}
	exists := func(i uint32) ledger.EventResult { return ledger.EventResult{Index: i, Result: ledger.ResultExists} }
	for _, c := range []struct {
		name                          string
		open, capacity, after, events int
		results                       []byte
		ok                            bool
	}{
		{"created with room", 3, 4, 4, 1, nil, true},
		{"refused when full", 4, 4, 4, 1, reply(full(0)), true},
		{"the last slot, then full", 3, 4, 4, 3, reply(full(1), full(2)), true},
		{"an error takes no room", 3, 4, 4, 2, reply(exists(0)), true},
		{"refused with room", 3, 4, 3, 1, reply(full(0)), false},
		{"refused one slot early", 2, 4, 3, 2, reply(full(1)), false},
		{"created into a full table", 4, 4, 4, 1, nil, false},
		{"created without its effect", 1, 4, 1, 1, nil, false},
		{"two effects for one transfer", 1, 4, 3, 1, nil, false},
		{"a result beyond the events", 0, 4, 0, 1, reply(exists(1)), false},
	} {
		msg := checkEffectRoom(c.open, c.capacity, c.after, c.events, c.results)
		if (msg == "") != c.ok {
			t.Errorf("%s: %q", c.name, msg)
		}
	}
}
