package outbox

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chronon-db/chronon/wire"
)

func testDelivery(target string) Delivery {
	id := EffectID(testCluster, 3, 1)
	return Delivery{ID: id, Key: id.String(), Token: 7, Attempt: 2, Kind: 5, Target: []byte(target), Payload: []byte("hello")}
}

func TestHTTPSink(t *testing.T) {
	status := http.StatusOK
	var got *http.Request
	var gotBody []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		gotBody, _ = io.ReadAll(r.Body)
		if status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "3")
		}
		if status == -1 {
			// Answer only after the sink gave up (its timeout).
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			status = http.StatusOK
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte("response-body"))
	}))
	defer srv.Close()
	// A timeout far above any answer's time on a loaded machine; the
	// timeout case uses a short one.
	s := &HTTPSink{Timeout: 10 * time.Second, ResultSizeMax: 8}
	short := &HTTPSink{Timeout: 50 * time.Millisecond, ResultSizeMax: 8}
	d := testDelivery(srv.URL + "/hook")

	result, err := s.Deliver(context.Background(), d)
	if err != nil || string(result) != "response" {
		t.Fatalf("2xx: %q %v", result, err)
	}
	if got.Method != http.MethodPost || got.URL.Path != "/hook" || string(gotBody) != "hello" ||
		got.Header.Get(HeaderIdempotencyKey) != d.ID.String() || got.Header.Get(HeaderFencingToken) != "7" ||
		got.Header.Get(HeaderAttempt) != "2" || got.Header.Get(HeaderKind) != "5" {
		t.Fatalf("request: %s %s %v %q", got.Method, got.URL, got.Header, gotBody)
	}

	for _, c := range []struct {
		status  int
		outcome Outcome
		reason  Reason
		after   uint64
		fenced  bool
	}{
		{http.StatusCreated, OutcomeDone, 0, 0, false},
		{http.StatusServiceUnavailable, OutcomeRetry, 0, uint64(3 * time.Second), false},
		{http.StatusInternalServerError, OutcomeRetry, 0, 0, false},
		{http.StatusRequestTimeout, OutcomeRetry, 0, 0, false},
		{http.StatusTooManyRequests, OutcomeRetry, 0, 0, false},
		{http.StatusBadRequest, OutcomeFailed, ReasonHTTP + 400, 0, false},
		{http.StatusNotFound, OutcomeFailed, ReasonHTTP + 404, 0, false},
		{http.StatusConflict, 0, 0, 0, true},
		{-1, OutcomeRetry, 0, 0, false}, // timeout
	} {
		status = c.status
		sink := s
		if c.status == -1 {
			sink = short
		}
		_, err := sink.Deliver(context.Background(), d)
		o, r, a, f := classify(err)
		if o != c.outcome || r != c.reason || a != c.after || f != c.fenced {
			t.Errorf("status %d: classify(%v) = %v %v %v %v", c.status, err, o, r, a, f)
		}
	}

	// Connection refused: retry. Bad target: permanent.
	srv2 := httptest.NewServer(http.NotFoundHandler())
	url2 := srv2.URL
	srv2.Close()
	if _, err := s.Deliver(context.Background(), testDelivery(url2)); err == nil {
		t.Fatal("closed server: no error")
	} else if o, _, _, _ := classify(err); o != OutcomeRetry {
		t.Fatalf("closed server: %v", err)
	}
	for _, target := range []string{"mailto:x@example.com", "not a url", "http://"} {
		_, err := s.Deliver(context.Background(), testDelivery(target))
		var p *PermanentError
		if !errors.As(err, &p) || p.Reason != ReasonBadTarget {
			t.Errorf("target %q: %v", target, err)
		}
	}
}

func TestKindSink(t *testing.T) {
	ok := FuncSink(func(context.Context, Delivery) ([]byte, error) { return []byte("x"), nil })
	k := KindSink{5: ok}
	if r, err := k.Deliver(context.Background(), Delivery{Kind: 5}); err != nil || string(r) != "x" {
		t.Fatal(r, err)
	}
	_, err := k.Deliver(context.Background(), Delivery{Kind: 6, ID: wire.Uint128{}})
	if o, r, _, _ := classify(err); o != OutcomeFailed || r != ReasonNoSink {
		t.Fatal(err)
	}
}
