package postgres

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/chronon-db/chronon/outbox"
)

// TestBridgeServesTheHTTPContract: the chronon CLI's sinks, outbox.HTTPSink
// (one effect per POST) and outbox.HTTPBatchSink (the batch form), deliver
// through a Bridge into PostgreSQL with the Sink's guarantee: applied once,
// the stored result replayed to a duplicate, a lower token fenced, a
// permanent failure failed for good, a transient one retried, and a
// malformed request refused with 400.
func TestBridgeServesTheHTTPContract(t *testing.T) {
	pool := testPool(t)
	sink, runs := newTestSink(t, pool)
	bridge := NewBridge(sink, nil)
	srv := httptest.NewServer(bridge)
	defer srv.Close()
	ctx := context.Background()
	target := []byte(srv.URL + "/effects")
	single := &outbox.HTTPSink{}
	batch := &outbox.HTTPBatchSink{}

	d := delivery(1, 2, "one")
	d.Target = target
	for range 2 { // the second is a duplicate: replayed
		res, err := single.Deliver(ctx, d)
		if err != nil || string(res) != "applied one" {
			t.Fatalf("single delivery: %q, %v", res, err)
		}
	}
	stale := d
	stale.Token = 1
	if _, err := single.Deliver(ctx, stale); !errors.Is(err, outbox.ErrFenced) {
		t.Fatalf("lower token: %v, want fenced", err)
	}
	reject := delivery(2, 2, "reject")
	reject.Target = target
	var perm *outbox.PermanentError
	if _, err := single.Deliver(ctx, reject); !errors.As(err, &perm) || perm.Reason != outbox.Reason(1000+http.StatusUnprocessableEntity) {
		t.Fatalf("permanent failure: %v", err)
	}

	ds := []outbox.Delivery{delivery(3, 2, "three"), delivery(1, 2, "one"), delivery(4, 2, "fail")}
	for i := range ds {
		ds[i].Target = target
	}
	out := make([]outbox.BatchResult, len(ds))
	batch.DeliverBatch(ctx, ds, out)
	if out[0].Err != nil || string(out[0].Result) != "applied three" || out[1].Err != nil || string(out[1].Result) != "applied one" {
		t.Fatalf("batch outcomes %+v", out)
	}
	if out[2].Err == nil || errors.As(out[2].Err, &perm) || errors.Is(out[2].Err, outbox.ErrFenced) {
		t.Fatalf("transient failure in a batch: %v, want a retry", out[2].Err)
	}
	rows, dup := appliedRows(t, pool)
	if rows != 2 || dup != 0 {
		t.Fatalf("%d rows (%d keys twice), want 2 once each (one, three)", rows, dup)
	}
	if runs.Load() < 4 {
		t.Fatalf("work ran %d times", runs.Load())
	}

	for _, h := range []http.Header{
		{outbox.HeaderIdempotencyKey: {"short"}, outbox.HeaderFencingToken: {"1"}, outbox.HeaderAttempt: {"1"}},
		{outbox.HeaderIdempotencyKey: {d.Key}, outbox.HeaderFencingToken: {"x"}, outbox.HeaderAttempt: {"1"}},
	} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(nil))
		req.Header = h
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("malformed headers %v: status %d", h, resp.StatusCode)
		}
	}
	resp, err := http.Post(srv.URL, outbox.ContentTypeBatch, bytes.NewReader([]byte{1, 2, 3}))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || bridge.Malformed() != 3 {
		t.Fatalf("malformed batch: status %d, %d malformed counted", resp.StatusCode, bridge.Malformed())
	}
}

// FuzzParseDeliveryHeaders: any header values parse or fail with
// ErrBridgeRequest, never panic; what parses has a 32-hex-digit key and an
// attempt from 1.
func FuzzParseDeliveryHeaders(f *testing.F) {
	f.Add("0123456789abcdef0123456789abcdef", "3", "1", "1")
	f.Add("0123456789ABCDEF0123456789abcdef", "-1", "0", "x")
	f.Fuzz(func(t *testing.T, key, token, attempt, kind string) {
		h := http.Header{}
		h.Set(outbox.HeaderIdempotencyKey, key)
		h.Set(outbox.HeaderFencingToken, token)
		h.Set(outbox.HeaderAttempt, attempt)
		h.Set(outbox.HeaderKind, kind)
		d, err := ParseDeliveryHeaders(h)
		if err != nil {
			if !errors.Is(err, ErrBridgeRequest) {
				t.Fatalf("error %v does not wrap ErrBridgeRequest", err)
			}
			return
		}
		if len(d.Key) != 32 || d.Attempt == 0 {
			t.Fatalf("parsed %+v", d)
		}
	})
}
