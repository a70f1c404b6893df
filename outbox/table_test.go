package outbox

import (
	"bytes"
	"errors"
	"testing"

	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

func TestEffectIDDeterministic(t *testing.T) {
	a := EffectID(testCluster, 5, 1)
	if a != EffectID(testCluster, 5, 1) {
		t.Fatal("id not deterministic")
	}
	for _, b := range []wire.Uint128{EffectID(testCluster, 5, 2), EffectID(testCluster, 6, 1), EffectID(wire.Uint128{Lo: 1}, 5, 1)} {
		if a == b {
			t.Fatal("ids collide")
		}
	}
	e := Effect{ID: a}
	if id, ok := ParseKey(e.Key()); !ok || id != a {
		t.Fatalf("ParseKey(%q) = %v %v", e.Key(), id, ok)
	}
	if _, ok := ParseKey("zz"); ok {
		t.Fatal("ParseKey accepted garbage")
	}
}

func TestEmitIndexesAcrossRequestsOfOneOp(t *testing.T) {
	tb := newTestTable(t, Config{})
	a := emit(t, tb, 10, 100, "x", "y")
	b := emit(t, tb, 10, 101, "z") // second request of the same batch prepare
	c := emit(t, tb, 11, 200, "w")
	want := []wire.Uint128{EffectID(testCluster, 10, 0), EffectID(testCluster, 10, 1), EffectID(testCluster, 10, 2), EffectID(testCluster, 11, 0)}
	got := append(append(a, b...), c...)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("id %d = %v, want %v", i, got[i], want[i])
		}
	}
	e, ok := tb.Get(got[2])
	if !ok || e.Op != 10 || e.Index != 2 || e.Created != 101 || e.NextAttempt != 101 || e.State != StatePending ||
		string(e.Target) != "z" || string(e.Payload) != "payload:z" || e.Kind != 7 {
		t.Fatalf("effect = %+v", e)
	}
	if s := tb.Stats(); s.Emitted != 4 || s.Open != 4 {
		t.Fatalf("stats %+v", s)
	}
}

func TestEmitErrors(t *testing.T) {
	tb := newTestTable(t, Config{EffectsMax: 2, TargetSizeMax: 4, PayloadSizeMax: 4})
	e := tb.Emitter()
	if _, err := e.Emit(1, []byte("a"), nil); !errors.Is(err, ErrNotApplying) {
		t.Fatalf("emit outside apply: %v", err)
	}
	e.Begin(&statemachine.Context{Op: 1, Timestamp: 1})
	for _, c := range []struct {
		target, payload string
		err             error
	}{
		{"", "", ErrTargetSize},
		{"12345", "", ErrTargetSize},
		{"a", "12345", ErrPayloadSize},
		{"a", "1234", nil},
		{"b", "", nil},
		{"c", "", ErrFull},
	} {
		if _, err := e.Emit(1, []byte(c.target), []byte(c.payload)); !errors.Is(err, c.err) {
			t.Fatalf("Emit(%q, %q) = %v, want %v", c.target, c.payload, err, c.err)
		}
	}
	if e.Room() != 0 || tb.Len() != 2 {
		t.Fatalf("room %d len %d", e.Room(), tb.Len())
	}
	e.End()
	// Re-applying op 1 from the start derives the same ids: duplicates.
	tb2 := newTestTable(t, Config{EffectsMax: 4})
	emit(t, tb2, 1, 1, "a")
	tb2.Emitter().reset()
	tb2.Emitter().Begin(&statemachine.Context{Op: 1, Timestamp: 1})
	if _, err := tb2.Emitter().Emit(1, []byte("a"), nil); !errors.Is(err, ErrDuplicateID) {
		t.Fatalf("re-emit: %v", err)
	}
}

func TestDueOrdering(t *testing.T) {
	tb := newTestTable(t, Config{})
	emit(t, tb, 3, 300, "c0", "c1")
	emit(t, tb, 1, 100, "a0")
	emit(t, tb, 2, 200, "b0")
	ids := func(es []Effect) (s []string) {
		for _, e := range es {
			s = append(s, string(e.Target))
		}
		return s
	}
	if got := ids(tb.Due(nil, 250, 10, nil)); len(got) != 2 || got[0] != "a0" || got[1] != "b0" {
		t.Fatalf("due at 250 = %v", got)
	}
	if got := ids(tb.Due(nil, 1000, 3, nil)); len(got) != 3 || got[2] != "c0" {
		t.Fatalf("due limit 3 = %v", got)
	}
	skipA := func(id wire.Uint128) bool { return id == EffectID(testCluster, 1, 0) }
	if got := ids(tb.Due(nil, 1000, 10, skipA)); len(got) != 3 || got[0] != "b0" {
		t.Fatalf("due with skip = %v", got)
	}
	// A retry moves a0 behind the others.
	applyAcks(t, tb, 400, Ack{ID: EffectID(testCluster, 1, 0), View: 1, Attempt: 1, Outcome: OutcomeRetry})
	next := 400 + tb.Config().BackoffMin
	if got := ids(tb.Due(nil, next-1, 10, nil)); len(got) != 3 || got[0] != "b0" {
		t.Fatalf("due before backoff = %v", got)
	}
	if got := ids(tb.Due(nil, next, 10, nil)); len(got) != 4 || got[3] != "a0" {
		t.Fatalf("due after backoff = %v", got)
	}
	if n, ok := tb.NextDue(); !ok || n != 200 {
		t.Fatalf("NextDue = %d %v", n, ok)
	}
}

func TestApplyAck(t *testing.T) {
	tb := newTestTable(t, Config{AttemptsMax: 3, BackoffMin: 10, BackoffMax: 35})
	obs := &recordingObserver{}
	tb.SetObserver(obs)
	ids := emit(t, tb, 1, 100, "a", "b", "c", "d")
	a, b, c, d := ids[0], ids[1], ids[2], ids[3]

	// done
	r := applyAcks(t, tb, 200, Ack{ID: a, View: 1, Attempt: 1, Outcome: OutcomeDone, Result: []byte("ok")})
	if r != (AckReply{Applied: 1}) {
		t.Fatalf("done reply %+v", r)
	}
	if _, ok := tb.Get(a); ok || len(obs.finished) != 1 || obs.finished[0].State != StateDone || string(obs.finished[0].Result) != "ok" {
		t.Fatalf("after done: %+v", obs.finished)
	}
	// duplicate done, unknown id
	r = applyAcks(t, tb, 201, Ack{ID: a, View: 1, Attempt: 1, Outcome: OutcomeDone}, Ack{ID: wire.Uint128{Lo: 9}, View: 1, Attempt: 1, Outcome: OutcomeDone})
	if r != (AckReply{Unknown: 2}) {
		t.Fatalf("duplicate done reply %+v", r)
	}
	// failed permanently
	r = applyAcks(t, tb, 202, Ack{ID: b, View: 1, Attempt: 1, Outcome: OutcomeFailed, Reason: ReasonHTTP + 400})
	if r.Applied != 1 || obs.finished[1].State != StateFailed || obs.finished[1].Reason != ReasonHTTP+400 {
		t.Fatalf("failed: %+v %+v", r, obs.finished)
	}
	// retry: backoff 10, then 20 with a hint of 5 (ignored), then
	// exhausted at attempt 3.
	r = applyAcks(t, tb, 300, Ack{ID: c, View: 2, Attempt: 1, Outcome: OutcomeRetry, Result: []byte("503")})
	e, _ := tb.Get(c)
	if r.Applied != 1 || e.State != StateRetry || e.Attempts != 1 || e.View != 2 || e.NextAttempt != 310 || string(e.Result) != "503" {
		t.Fatalf("retry 1: %+v %+v", r, e)
	}
	// duplicate retry of attempt 1; stale retry from view 1
	r = applyAcks(t, tb, 301, Ack{ID: c, View: 2, Attempt: 1, Outcome: OutcomeRetry}, Ack{ID: c, View: 1, Attempt: 2, Outcome: OutcomeRetry})
	if r != (AckReply{Duplicate: 1, Stale: 1}) {
		t.Fatalf("dup/stale reply %+v", r)
	}
	// stale done from an older view is ignored too
	r = applyAcks(t, tb, 302, Ack{ID: c, View: 1, Attempt: 1, Outcome: OutcomeDone})
	if r != (AckReply{Stale: 1}) {
		t.Fatalf("stale done reply %+v", r)
	}
	// a done for an attempt not yet made is not accepted
	r = applyAcks(t, tb, 303, Ack{ID: c, View: 2, Attempt: 3, Outcome: OutcomeDone})
	if r != (AckReply{Duplicate: 1}) {
		t.Fatalf("future done reply %+v", r)
	}
	r = applyAcks(t, tb, 400, Ack{ID: c, View: 3, Attempt: 2, Outcome: OutcomeRetry, After: 5})
	e, _ = tb.Get(c)
	if r.Applied != 1 || e.Attempts != 2 || e.NextAttempt != 420 || e.View != 3 {
		t.Fatalf("retry 2: %+v", e)
	}
	// hint above backoff wins, capped at BackoffMax
	r = applyAcks(t, tb, 500, Ack{ID: d, View: 3, Attempt: 1, Outcome: OutcomeRetry, After: 1000})
	e, _ = tb.Get(d)
	if e.NextAttempt != 535 {
		t.Fatalf("hint cap: next %d", e.NextAttempt)
	}
	r = applyAcks(t, tb, 500, Ack{ID: c, View: 3, Attempt: 3, Outcome: OutcomeRetry})
	if _, ok := tb.Get(c); ok || obs.finished[2].Reason != ReasonAttemptsExhausted {
		t.Fatalf("exhausted: %+v", obs.finished)
	}
	// an older attempt's done is still a fact (attempt ≤ attempts+1)
	r = applyAcks(t, tb, 600, Ack{ID: d, View: 3, Attempt: 1, Outcome: OutcomeDone})
	if r.Applied != 1 {
		t.Fatalf("late done %+v", r)
	}
	if s := tb.Stats(); s != (Stats{Emitted: 4, Done: 2, Failed: 2, Kept: 2}) {
		t.Fatalf("stats %+v", s)
	}
	// Both failures are kept, oldest first, with their reasons.
	kept := tb.Failed(nil)
	if len(kept) != 2 || kept[1].ID != c || kept[1].Reason != ReasonAttemptsExhausted || kept[1].State != StateFailed {
		t.Fatalf("kept failures %+v", kept)
	}
}

func TestApplyAckInvalidBodyChangesNothing(t *testing.T) {
	tb := newTestTable(t, Config{})
	ids := emit(t, tb, 1, 100, "a")
	good := AppendAckBody(nil, []Ack{{ID: ids[0], View: 1, Attempt: 1, Outcome: OutcomeDone}})
	digest := tb.Digest()
	for name, body := range map[string][]byte{
		"empty":     nil,
		"truncated": good[:len(good)-1],
		"trailing":  append(bytes.Clone(good), 0),
		"outcome":   func() []byte { b := bytes.Clone(good); b[8+32] = 9; return b }(),
		"attempt0":  AppendAckBody(nil, []Ack{{ID: ids[0], View: 1, Outcome: OutcomeDone}}),
		"reason":    AppendAckBody(nil, []Ack{{ID: ids[0], View: 1, Attempt: 1, Outcome: OutcomeFailed}}),
		"after":     AppendAckBody(nil, []Ack{{ID: ids[0], View: 1, Attempt: 1, Outcome: OutcomeDone, After: 1}}),
		"result":    AppendAckBody(nil, []Ack{{ID: ids[0], View: 1, Attempt: 1, Outcome: OutcomeDone, Result: make([]byte, 300)}}),
	} {
		var reply [AckReplySize]byte
		tb.ApplyAck(&statemachine.Context{Op: 2, Timestamp: 200}, body, reply[:])
		if r, _ := DecodeAckReply(reply[:]); r.Status != AckInvalid {
			t.Errorf("%s: reply %+v", name, r)
		}
		if err := tb.ValidateAcks(body); !errors.Is(err, ErrAckBody) {
			t.Errorf("%s: ValidateAcks = %v", name, err)
		}
		if tb.Digest() != digest {
			t.Errorf("%s: state changed", name)
		}
	}
	acks, err := DecodeAcks(nil, good, 256)
	if err != nil || len(acks) != 1 || acks[0].ID != ids[0] {
		t.Fatalf("DecodeAcks = %v %v", acks, err)
	}
}

func TestAckBodyRoundTrip(t *testing.T) {
	in := []Ack{
		{ID: wire.Uint128{Lo: 1, Hi: 2}, View: 3, Attempt: 4, Outcome: OutcomeDone, Result: []byte("r")},
		{ID: wire.Uint128{Lo: 5}, View: 6, Attempt: 1, Outcome: OutcomeRetry, After: 99},
		{ID: wire.Uint128{Hi: 7}, View: 8, Attempt: 2, Outcome: OutcomeFailed, Reason: ReasonHTTP + 404},
	}
	body := AppendAckBody(nil, in)
	out, err := DecodeAcks(nil, body, 16)
	if err != nil || len(out) != 3 {
		t.Fatal(out, err)
	}
	for i := range in {
		if in[i].ID != out[i].ID || in[i].View != out[i].View || in[i].Attempt != out[i].Attempt ||
			in[i].Outcome != out[i].Outcome || in[i].Reason != out[i].Reason || in[i].After != out[i].After ||
			!bytes.Equal(in[i].Result, out[i].Result) {
			t.Fatalf("ack %d: %+v != %+v", i, out[i], in[i])
		}
	}
	if len(body) != 8+3*AckRecordSize+1 {
		t.Fatalf("body size %d", len(body))
	}
}

func TestCapacityFreedByAcks(t *testing.T) {
	tb := newTestTable(t, Config{EffectsMax: 2})
	ids := emit(t, tb, 1, 1, "a", "b")
	e := tb.Emitter()
	e.Begin(&statemachine.Context{Op: 2, Timestamp: 2})
	if _, err := e.Emit(1, []byte("c"), nil); !errors.Is(err, ErrFull) {
		t.Fatal(err)
	}
	e.End()
	applyAcks(t, tb, 3, Ack{ID: ids[0], View: 1, Attempt: 1, Outcome: OutcomeDone})
	emit(t, tb, 4, 4, "c")
	if tb.Len() != 2 {
		t.Fatal(tb.Len())
	}
}
