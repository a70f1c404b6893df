package outbox

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

func openTestReceiver(t *testing.T, path string, next http.Handler) *Receiver {
	t.Helper()
	r, err := OpenReceiver(path, next, quietLog)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func post(t *testing.T, url, key string, token int, body string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, nil)
	if body != "" {
		req, _ = http.NewRequest(http.MethodPost, url, stringsReader(body))
	}
	if key != "" {
		req.Header.Set(HeaderIdempotencyKey, key)
	}
	if token >= 0 {
		req.Header.Set(HeaderFencingToken, strconv.Itoa(token))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// countingHandler counts applications per key and answers "applied-N".
type countingHandler struct {
	mu     sync.Mutex
	counts map[string]int
	status int
}

func (h *countingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	key := r.Header.Get(HeaderIdempotencyKey)
	if h.counts == nil {
		h.counts = map[string]int{}
	}
	h.counts[key]++
	n := h.counts[key]
	status := h.status
	h.mu.Unlock()
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, "applied-"+strconv.Itoa(n))
}

func (h *countingHandler) count(key string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.counts[key]
}

func TestReceiverDedupAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "receiver.log")
	h := &countingHandler{}
	r := openTestReceiver(t, path, h)
	srv := httptest.NewServer(r)
	defer srv.Close()

	code, body, hdr := post(t, srv.URL, "k1", 1, "x")
	if code != 200 || body != "applied-1" || hdr.Get("Chronon-Replayed") != "" {
		t.Fatalf("first: %d %q", code, body)
	}
	code, body, hdr = post(t, srv.URL, "k1", 1, "x")
	if code != 200 || body != "applied-1" || hdr.Get("Chronon-Replayed") != "true" || h.count("k1") != 1 {
		t.Fatalf("duplicate: %d %q count %d", code, body, h.count("k1"))
	}
	// A non-2xx answer is not stored: the retry runs the handler again.
	h.status = http.StatusServiceUnavailable
	if code, _, _ := post(t, srv.URL, "k2", 1, "x"); code != 503 {
		t.Fatal(code)
	}
	h.status = 0
	if code, body, _ := post(t, srv.URL, "k2", 1, "x"); code != 200 || body != "applied-2" {
		t.Fatal(code, body)
	}
	// Missing headers.
	if code, _, _ := post(t, srv.URL, "", 1, ""); code != 400 {
		t.Fatal(code)
	}
	if code, _, _ := post(t, srv.URL, "k3", -1, ""); code != 400 {
		t.Fatal(code)
	}
	srv.Close()
	r.Close()

	// Reopen: the stored responses survive; a higher token replays too.
	r2 := openTestReceiver(t, path, h)
	srv2 := httptest.NewServer(r2)
	defer srv2.Close()
	code, body, hdr = post(t, srv2.URL, "k1", 2, "x")
	if code != 200 || body != "applied-1" || hdr.Get("Chronon-Replayed") != "true" || h.count("k1") != 1 {
		t.Fatalf("after reopen: %d %q count %d", code, body, h.count("k1"))
	}
	// Token 2 is now the highest for k1, durably.
	if code, _, _ := post(t, srv2.URL, "k1", 1, "x"); code != http.StatusConflict {
		t.Fatalf("stale token after reopen: %d", code)
	}
}

func TestReceiverFencing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "receiver.log")
	r := openTestReceiver(t, path, nil)
	ctx := context.Background()
	calls := 0
	fail := func(context.Context) (Response, error) { calls++; return Response{Status: 500}, nil }
	ok := func(context.Context) (Response, error) {
		calls++
		return Response{Status: 201, Body: []byte("ok")}, nil
	}
	// The new primary's attempt (token 5) fails transiently...
	if resp, err := r.Do(ctx, "k", 5, fail); err != nil || resp.Status != 500 {
		t.Fatal(resp, err)
	}
	// ...then the old primary's attempt (token 4) arrives: fenced.
	if _, err := r.Do(ctx, "k", 4, ok); !errors.Is(err, ErrFenced) || calls != 1 {
		t.Fatalf("stale: %v, calls %d", err, calls)
	}
	if resp, err := r.Do(ctx, "k", 5, ok); err != nil || resp.Status != 201 || resp.Replayed {
		t.Fatal(resp, err)
	}
	if resp, err := r.Do(ctx, "k", 6, ok); err != nil || !resp.Replayed || string(resp.Body) != "ok" || calls != 2 {
		t.Fatal(resp, err, calls)
	}
	// An error from fn is returned and nothing stored.
	boom := errors.New("boom")
	if _, err := r.Do(ctx, "e", 1, func(context.Context) (Response, error) { return Response{}, boom }); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if _, err := r.Do(ctx, "", 1, ok); err == nil {
		t.Fatal("empty key accepted")
	}
	r.Close()
	if _, err := r.Do(ctx, "z", 1, ok); !errors.Is(err, ErrClosed) {
		t.Fatal(err)
	}
}

func TestReceiverConcurrentSameKeyAppliesOnce(t *testing.T) {
	r := openTestReceiver(t, filepath.Join(t.TempDir(), "r.log"), nil)
	var applied atomic.Int32
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := r.Do(context.Background(), "same", uint32(1+i%2), func(context.Context) (Response, error) {
				applied.Add(1)
				return Response{Status: 200}, nil
			})
			if err != nil && !errors.Is(err, ErrFenced) {
				t.Error(err)
			}
			_ = resp
		}()
	}
	wg.Wait()
	if applied.Load() != 1 {
		t.Fatalf("applied %d times", applied.Load())
	}
}

func TestReceiverTornTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.log")
	r := openTestReceiver(t, path, nil)
	ctx := context.Background()
	ok := func(context.Context) (Response, error) { return Response{Status: 200, Body: []byte("first")}, nil }
	if _, err := r.Do(ctx, "a", 1, ok); err != nil {
		t.Fatal(err)
	}
	r.Close()
	good, _ := os.ReadFile(path)
	// Append a torn record: a valid-looking prefix of a longer one.
	r2 := openTestReceiver(t, path, nil)
	if _, err := r2.Do(ctx, "b", 1, ok); err != nil {
		t.Fatal(err)
	}
	r2.Close()
	full, _ := os.ReadFile(path)
	for cut := len(good) + 1; cut < len(full); cut += 7 {
		if err := os.WriteFile(path, full[:cut], 0o644); err != nil {
			t.Fatal(err)
		}
		r3, err := OpenReceiver(path, nil, quietLog)
		if err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		calls := 0
		resp, err := r3.Do(ctx, "a", 1, func(context.Context) (Response, error) { calls++; return Response{Status: 200}, nil })
		if err != nil || !resp.Replayed || string(resp.Body) != "first" || calls != 0 {
			t.Fatalf("cut %d: a lost: %+v %v", cut, resp, err)
		}
		// b's done record was torn: b runs again and the log stays usable.
		resp, err = r3.Do(ctx, "b", 1, func(context.Context) (Response, error) {
			calls++
			return Response{Status: 200, Body: []byte("again")}, nil
		})
		if err != nil || calls != 1 {
			t.Fatalf("cut %d: b: %+v %v", cut, resp, err)
		}
		r3.Close()
		r4 := openTestReceiver(t, path, nil)
		resp, err = r4.Do(ctx, "b", 1, func(context.Context) (Response, error) { calls++; return Response{Status: 200}, nil })
		if err != nil || !resp.Replayed || string(resp.Body) != "again" {
			t.Fatalf("cut %d: b after recovery: %+v %v", cut, resp, err)
		}
		r4.Close()
	}
	// A foreign file is refused.
	if err := os.WriteFile(path, []byte("not a receiver log"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenReceiver(path, nil, quietLog); !errors.Is(err, ErrStore) {
		t.Fatal(err)
	}
}
