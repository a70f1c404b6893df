package outbox

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
)

// Response is what a Receiver stores and replays for a key.
type Response struct {
	// Status is an HTTP status; 2xx responses are stored and replayed.
	Status int
	Body   []byte
	// Replayed is set when the response comes from the store: the effect
	// had already been applied and fn was not called.
	Replayed bool
}

// Receiver makes an endpoint the user controls idempotent and fenced: it
// applies each idempotency key at most once, durably, and rejects requests
// whose fencing token is older than the highest seen for the key. Use it
// as an http.Handler wrapping the real handler (ServeHTTP) or as a plain Go
// helper (Do).
//
// Rules for a request (key, token):
//  1. token below the highest recorded for key: rejected (ErrFenced, 409).
//  2. token above it: recorded durably (fsync) before going on.
//  3. a stored 2xx response for key: replayed, fn not called.
//  4. otherwise fn runs (one at a time per key); a 2xx result is stored
//     durably (fsync) before it is returned, anything else is returned
//     unstored so a retry runs fn again.
//
// The store never forgets a key (there is no compaction yet).
type Receiver struct {
	next http.Handler
	log  *slog.Logger

	mu     sync.Mutex // guards st and keys
	st     *store
	keys   map[string]*keyLock
	closed bool
}

type keyLock struct {
	ch   chan struct{}
	refs int
}

// OpenReceiver opens (creating if needed) the store at path, recovering
// its records and ignoring a torn tail. next is the handler ServeHTTP
// protects (nil if only Do is used); log nil means slog.Default().
func OpenReceiver(path string, next http.Handler, log *slog.Logger) (*Receiver, error) {
	if log == nil {
		log = slog.Default()
	}
	st, err := openStoreFile(path, log)
	if err != nil {
		return nil, err
	}
	return &Receiver{next: next, log: log, st: st, keys: make(map[string]*keyLock)}, nil
}

// NewReceiver is OpenReceiver over a ReceiverFile (the simulator's
// in-memory one): the same store, recovery and rules. Close closes f.
func NewReceiver(f ReceiverFile, next http.Handler, log *slog.Logger) (*Receiver, error) {
	if log == nil {
		log = slog.Default()
	}
	st, err := openStore(f, log)
	if err != nil {
		return nil, err
	}
	return &Receiver{next: next, log: log, st: st, keys: make(map[string]*keyLock)}, nil
}

// Close closes the store; later calls fail with ErrClosed.
func (r *Receiver) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	return r.st.close()
}

// Do applies the rules above to (key, token) with fn as the effect's
// application. It returns ErrFenced (wrapped) for a stale token, ErrStore
// for a store failure, ErrClosed, ctx's error while waiting for the key, or
// fn's error (nothing stored).
func (r *Receiver) Do(ctx context.Context, key string, token uint32, fn func(context.Context) (Response, error)) (Response, error) {
	if len(key) == 0 || len(key) > KeySizeMax {
		return Response{}, fmt.Errorf("outbox: receiver: key size %d not in [1, %d]", len(key), KeySizeMax)
	}
	if err := r.lock(ctx, key); err != nil {
		return Response{}, err
	}
	defer r.unlock(key)

	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return Response{}, ErrClosed
	}
	e := r.st.entries[key]
	switch {
	case e != nil && token < e.token:
		r.mu.Unlock()
		return Response{}, fmt.Errorf("outbox: receiver: key %s token %d below %d: %w", key, token, e.token, ErrFenced)
	case e == nil || token > e.token:
		if err := r.st.append(recordFence, key, token, 0, nil); err != nil {
			r.mu.Unlock()
			return Response{}, err
		}
		e = r.st.entries[key]
	}
	if e.done {
		resp := Response{Status: e.status, Body: e.body, Replayed: true}
		r.mu.Unlock()
		return resp, nil
	}
	r.mu.Unlock()

	resp, err := fn(ctx)
	if err != nil || resp.Status < 200 || resp.Status > 299 {
		return resp, err
	}
	if len(resp.Body) > ResponseSizeMax {
		return Response{}, fmt.Errorf("outbox: receiver: response of %d bytes above %d", len(resp.Body), ResponseSizeMax)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return Response{}, ErrClosed
	}
	if err := r.st.append(recordDone, key, token, resp.Status, resp.Body); err != nil {
		return Response{}, err
	}
	return resp, nil
}

// lock takes key's lock, waiting for ctx at most.
func (r *Receiver) lock(ctx context.Context, key string) error {
	r.mu.Lock()
	k := r.keys[key]
	if k == nil {
		k = &keyLock{ch: make(chan struct{}, 1)}
		r.keys[key] = k
	}
	k.refs++
	r.mu.Unlock()
	select {
	case k.ch <- struct{}{}:
		return nil
	case <-ctx.Done():
		r.release(key, k)
		return fmt.Errorf("outbox: receiver: waiting for key %s: %w", key, ctx.Err())
	}
}

func (r *Receiver) unlock(key string) {
	r.mu.Lock()
	k := r.keys[key]
	r.mu.Unlock()
	<-k.ch
	r.release(key, k)
}

func (r *Receiver) release(key string, k *keyLock) {
	r.mu.Lock()
	k.refs--
	if k.refs == 0 {
		delete(r.keys, key)
	}
	r.mu.Unlock()
}

// ServeHTTP reads Idempotency-Key and Chronon-Fencing-Token (400 if
// missing or malformed) and runs the wrapped handler under Do: 409 for a
// stale token, the stored status and body (with Chronon-Replayed: true)
// for a duplicate, 503 for a store failure.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	key := req.Header.Get(HeaderIdempotencyKey)
	token, err := strconv.ParseUint(req.Header.Get(HeaderFencingToken), 10, 32)
	if key == "" || len(key) > KeySizeMax || err != nil {
		http.Error(w, "missing or malformed Idempotency-Key or Chronon-Fencing-Token", http.StatusBadRequest)
		return
	}
	var header http.Header
	resp, err := r.Do(req.Context(), key, uint32(token), func(context.Context) (Response, error) {
		rec := &recorder{header: make(http.Header)}
		if r.next == nil {
			return Response{Status: http.StatusNotImplemented}, nil
		}
		r.next.ServeHTTP(rec, req)
		header = rec.header
		if rec.overflow {
			return Response{Status: http.StatusInternalServerError, Body: []byte("response too large to store\n")}, nil
		}
		return Response{Status: rec.status(), Body: rec.body.Bytes()}, nil
	})
	switch {
	case err == nil:
	case isFenced(err):
		http.Error(w, err.Error(), http.StatusConflict)
		return
	default:
		r.log.Warn("outbox: receiver failed", "key", key, "err", err)
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	for k, v := range header {
		w.Header()[k] = v
	}
	if resp.Replayed {
		w.Header().Set("Chronon-Replayed", "true")
	}
	w.WriteHeader(resp.Status)
	_, _ = w.Write(resp.Body)
}

// recorder captures a handler's response in memory, up to ResponseSizeMax.
type recorder struct {
	header   http.Header
	code     int
	body     bytes.Buffer
	overflow bool
}

func (c *recorder) Header() http.Header { return c.header }

func (c *recorder) WriteHeader(code int) {
	if c.code == 0 {
		c.code = code
	}
}

func (c *recorder) Write(b []byte) (int, error) {
	c.WriteHeader(http.StatusOK)
	if c.body.Len()+len(b) > ResponseSizeMax {
		c.overflow = true
		return 0, fmt.Errorf("outbox: receiver: response above %d bytes", ResponseSizeMax)
	}
	return c.body.Write(b)
}

func (c *recorder) status() int {
	if c.code == 0 {
		return http.StatusOK
	}
	return c.code
}
