package outbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// TestDueSelectsLikeASort: Due's bounded heap returns exactly the first
// limit due, unskipped effects of a full sort by (NextAttempt, Op, Index),
// for random tables, limits and skip sets.
func TestDueSelectsLikeASort(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 50 {
		tb := newTestTable(t, Config{EffectsMax: 200})
		e := tb.Emitter()
		n := 1 + rng.IntN(200)
		for op := uint64(1); op <= uint64(n); op++ {
			e.Begin(&statemachine.Context{Op: op, Timestamp: 1 + rng.Uint64N(50)})
			if _, err := e.Emit(1, []byte("t"), nil); err != nil {
				t.Fatal(err)
			}
			e.End()
		}
		skipped := map[wire.Uint128]bool{}
		all := tb.Due(nil, 1<<62, 1000, nil)
		for _, x := range all {
			if rng.IntN(4) == 0 {
				skipped[x.ID] = true
			}
		}
		now := 1 + rng.Uint64N(60)
		var want []Effect
		for _, x := range all {
			if x.NextAttempt <= now && !skipped[x.ID] {
				want = append(want, x)
			}
		}
		slices.SortFunc(want, func(a, b Effect) int {
			switch {
			case a.NextAttempt != b.NextAttempt:
				return cmp(a.NextAttempt, b.NextAttempt)
			case a.Op != b.Op:
				return cmp(a.Op, b.Op)
			}
			return cmp(uint64(a.Index), uint64(b.Index))
		})
		limit := 1 + rng.IntN(n+5)
		want = want[:min(limit, len(want))]
		got := tb.Due(nil, now, limit, func(id wire.Uint128) bool { return skipped[id] })
		if len(got) != len(want) {
			t.Fatalf("round %d: %d due, want %d", round, len(got), len(want))
		}
		for i := range got {
			if got[i].ID != want[i].ID {
				t.Fatalf("round %d: due[%d] = op %d, want op %d", round, i, got[i].Op, want[i].Op)
			}
		}
	}
}

// recordingBatchSink is a BatchSink that records the size of every call
// and answers by target like faultSink.
type recordingBatchSink struct {
	faultSink
	mu2   sync.Mutex
	sizes []int
}

func (s *recordingBatchSink) DeliverBatch(ctx context.Context, ds []Delivery, out []BatchResult) {
	s.mu2.Lock()
	s.sizes = append(s.sizes, len(ds))
	s.mu2.Unlock()
	for i := range ds {
		out[i].Result, out[i].Err = s.Deliver(ctx, ds[i])
	}
}

// TestDispatcherBatchSink: with a BatchSink the workers hand it many
// deliveries per call (same token, same target), per-delivery outcomes
// become per-effect acks, and every effect is delivered once.
func TestDispatcherBatchSink(t *testing.T) {
	tb := newTestTable(t, Config{EffectsMax: 512})
	sink := &recordingBatchSink{faultSink: *newFaultSink()}
	sink.release = make(chan struct{})
	d := newTestDispatcher(t, DispatcherConfig{Sink: sink, Workers: 1, BatchMax: 16, InFlightMax: 512, DueMax: 512})
	var ids []wire.Uint128
	for op := uint64(1); op <= 100; op++ {
		target := "ok"
		if op%10 == 0 {
			target = "bad"
		}
		ids = append(ids, emit(t, tb, op, 1, target)...)
	}
	if n := d.Offer(1, tb.Due(nil, 1, 512, d.Busy)); n != 100 {
		t.Fatalf("started %d", n)
	}
	close(sink.release) // the worker was blocked in its first call: the rest queue up
	acks := waitAcks(t, d, 1, 100)
	done, failed := 0, 0
	for _, a := range acks {
		switch a.Outcome {
		case OutcomeDone:
			done++
		case OutcomeFailed:
			failed++
		}
	}
	if done != 90 || failed != 10 || sink.count("ok") != 90 || sink.count("bad") != 10 {
		t.Fatalf("done %d failed %d, calls ok %d bad %d", done, failed, sink.count("ok"), sink.count("bad"))
	}
	sink.mu2.Lock()
	defer sink.mu2.Unlock()
	if len(sink.sizes) >= 100 || slices.Max(sink.sizes) > 16 {
		t.Fatalf("batch sizes %v: want batches of 2..16", sink.sizes)
	}
}

// TestDispatcherAdaptiveAckTimeout: with AckTimeoutMin the ack timeout
// follows the measured submit-to-commit times (8 × p99, bounded), on the
// injected clock.
func TestDispatcherAdaptiveAckTimeout(t *testing.T) {
	now := time.Unix(100, 0)
	tr := &heldTransport{}
	d, err := NewDispatcher(DispatcherConfig{Transport: tr, Logger: quietLog, AckTimeout: 30 * time.Second,
		AckTimeoutMin: time.Second, InFlightMax: 1024, AwaitingMax: 1024, DueMax: 1024, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(context.Background())
	if _, err := NewDispatcher(DispatcherConfig{Transport: tr, AckTimeout: time.Second, AckTimeoutMin: 2 * time.Second}); !errors.Is(err, ErrConfig) {
		t.Fatalf("AckTimeoutMin above AckTimeout: %v", err)
	}
	tb := newTestTable(t, Config{EffectsMax: 1024})
	r := &stepReplica{view: 1, primary: true, normal: true}
	round := func(commitAfter time.Duration) {
		for i := range 300 {
			emit(t, tb, uint64(len(tr.started)+i+1), uint64(now.UnixNano()), "x")
		}
		d.Step(r, tb)
		for _, a := range tr.started {
			if a.Ctx.Err() == nil && !a.tr.awaiting {
				d.Complete(a, nil, nil)
			}
		}
		d.Step(r, tb)
		now = now.Add(commitAfter)
		for _, body := range r.bodies {
			commitBody(t, tb, d, body)
		}
		r.bodies = nil
	}
	if got := d.Stats().AckTimeout; got != 30*time.Second {
		t.Fatalf("initial ack timeout %v, want the maximum", got)
	}
	round(10 * time.Millisecond)
	if got := d.Stats().AckTimeout; got != time.Second {
		t.Fatalf("ack timeout after fast commits %v, want the minimum 1s", got)
	}
	round(500 * time.Millisecond)
	round(500 * time.Millisecond)
	if got := d.Stats().AckTimeout; got != 4*time.Second {
		t.Fatalf("ack timeout after 500 ms commits %v, want 8 × 500 ms", got)
	}
}

// commitBody applies an ack body to the table and tells the dispatcher.
func commitBody(t *testing.T, tb *Table, d *Dispatcher, body []byte) {
	t.Helper()
	var reply [AckReplySize]byte
	tb.ApplyAck(&statemachine.Context{Op: 1 << 40, Timestamp: 1}, body, reply[:])
	d.Committed(body)
}

// TestHTTPBatchSink: one POST per batch in the batch form; each record of
// the answer maps to its effect's outcome; a non-200 answer or a malformed
// body applies to every effect.
func TestHTTPBatchSink(t *testing.T) {
	var mode string
	var gotToken, gotCount string
	var got []BatchEffect
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		gotToken, gotCount = r.Header.Get(HeaderFencingToken), r.Header.Get(HeaderBatch)
		var err error
		if got, err = DecodeBatchRequest(nil, body); err != nil || r.Header.Get("Content-Type") != ContentTypeBatch {
			http.Error(w, fmt.Sprint(err), http.StatusBadRequest)
			return
		}
		switch mode {
		case "whole-503":
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		case "garbage":
			_, _ = w.Write([]byte("not a batch"))
			return
		}
		_, _ = w.Write(AppendBatchResponse(nil, []BatchOutcome{
			{Status: 200, Result: []byte("r0-long-result")}, {Status: 409}, {Status: 503, RetryAfter: 3 * time.Second}, {Status: 422},
		}))
	}))
	defer srv.Close()
	s := &HTTPBatchSink{HTTPSink{ResultSizeMax: 4}}
	ds := make([]Delivery, 4)
	for i := range ds {
		ds[i] = testDelivery(srv.URL)
		ds[i].ID = EffectID(testCluster, uint64(i+1), 0)
		ds[i].Key = ds[i].ID.String()
		ds[i].Payload = []byte{byte(i)}
	}
	out := make([]BatchResult, 4)
	s.DeliverBatch(context.Background(), ds, out)
	if gotToken != "7" || gotCount != "4" || len(got) != 4 || got[2].Key != ds[2].Key || got[2].Payload[0] != 2 || got[1].Attempt != 2 || got[3].Kind != 5 {
		t.Fatalf("request: token %q count %q records %+v", gotToken, gotCount, got)
	}
	var p *PermanentError
	var re *RetryError
	if out[0].Err != nil || string(out[0].Result) != "r0-l" || !errors.Is(out[1].Err, ErrFenced) ||
		!errors.As(out[2].Err, &re) || re.After != 3*time.Second || !errors.As(out[3].Err, &p) || p.Reason != ReasonHTTP+422 {
		t.Fatalf("outcomes %+v", out)
	}
	mode = "whole-503"
	s.DeliverBatch(context.Background(), ds, out)
	for i := range out {
		if !errors.As(out[i].Err, &re) || re.After != 7*time.Second {
			t.Fatalf("whole 503: outcome %d %+v", i, out[i])
		}
	}
	mode = "garbage"
	s.DeliverBatch(context.Background(), ds, out)
	for i := range out {
		if o, _, _, fenced := classify(out[i].Err); !errors.Is(out[i].Err, ErrBatchBody) || o != OutcomeRetry || fenced {
			t.Fatalf("malformed answer: outcome %d %+v", i, out[i])
		}
	}
	ds[0].Target = []byte("ftp://x")
	s.DeliverBatch(context.Background(), ds[:1], out[:1])
	if !errors.As(out[0].Err, &p) || p.Reason != ReasonBadTarget {
		t.Fatalf("bad target: %+v", out[0])
	}
}

// FuzzDecodeBatchRequest: arbitrary bytes never panic; an accepted body
// re-encodes to the same bytes.
func FuzzDecodeBatchRequest(f *testing.F) {
	d := testDelivery("http://x")
	f.Add(AppendBatchRequest(nil, []Delivery{d, d}))
	f.Add(AppendBatchRequest(nil, nil))
	f.Add([]byte{1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, body []byte) {
		es, err := DecodeBatchRequest(nil, body)
		if err != nil {
			if !errors.Is(err, ErrBatchBody) {
				t.Fatalf("error %v does not wrap ErrBatchBody", err)
			}
			return
		}
		ds := make([]Delivery, len(es))
		for i, e := range es {
			ds[i] = Delivery{Key: e.Key, Token: e.Token, Attempt: e.Attempt, Kind: e.Kind, Payload: e.Payload}
		}
		if len(ds) > 0 && string(AppendBatchRequest(nil, ds)) != string(body) {
			t.Fatal("accepted body does not re-encode to itself")
		}
	})
}

// FuzzDecodeBatchResponse: arbitrary bytes never panic; an accepted body
// re-encodes to the same bytes.
func FuzzDecodeBatchResponse(f *testing.F) {
	f.Add(AppendBatchResponse(nil, []BatchOutcome{{Status: 200, Result: []byte("x")}, {Status: 503, RetryAfter: time.Second}}), 2)
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0}, 0)
	f.Fuzz(func(t *testing.T, body []byte, want int) {
		os, err := DecodeBatchResponse(nil, body, want)
		if err != nil {
			if !errors.Is(err, ErrBatchBody) {
				t.Fatalf("error %v does not wrap ErrBatchBody", err)
			}
			return
		}
		if len(os) != want || string(AppendBatchResponse(nil, os)) != string(body) {
			t.Fatal("accepted body does not re-encode to itself")
		}
	})
}

// TestEffectKeyIsTheIDString: the dispatcher's key encoding is
// wire.Uint128.String, the documented idempotency key.
func TestEffectKeyIsTheIDString(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, id := range []wire.Uint128{{}, {Hi: ^uint64(0), Lo: ^uint64(0)}, {Hi: 1}, {Lo: 1}} {
		if effectKey(id) != id.String() {
			t.Fatalf("%v: %s", id, effectKey(id))
		}
	}
	for range 1000 {
		id := wire.Uint128{Hi: rng.Uint64(), Lo: rng.Uint64()}
		if effectKey(id) != id.String() {
			t.Fatalf("%v: %s", id, effectKey(id))
		}
	}
}
