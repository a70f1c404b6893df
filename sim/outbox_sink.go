package sim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/chronon-db/chronon/outbox"
	"github.com/chronon-db/chronon/wire"
)

// sinkEntry is what the simulation knows of one idempotency key: how many
// times the receiver's handler applied it, and the transfer it carries.
type sinkEntry struct {
	applications int
	transfer     wire.Uint128
}

// sink is the effects' destination, one per cluster, outside the replicas
// (it survives their crashes): the product's outbox.Receiver on an
// in-memory store, wrapping a handler that applies an effect and counts
// its applications, reached through the product's outbox.HTTPSink with an
// in-process HTTP round trip. Everything runs on the simulator's goroutine,
// synchronously, so the receiver's per-key locks never wait.
type sink struct {
	recv *outbox.Receiver
	file *memFile
	http *outbox.HTTPSink
	// transient, asked once per application, makes the handler answer 503
	// without applying (sink_transient_failure).
	transient func() bool
	// stats is the run's, set for the duration of a delivery; replayed is
	// set when the receiver answered from its store.
	stats    *Stats
	replayed bool

	keys map[wire.Uint128]*sinkEntry
	// transfers counts applications per ledger transfer id (the payload),
	// catching one transfer emitted under two keys.
	transfers map[wire.Uint128]int
}

func newSink(transient func() bool) *sink {
	k := &sink{file: &memFile{}, transient: transient, keys: map[wire.Uint128]*sinkEntry{}, transfers: map[wire.Uint128]int{}}
	if err := k.reopen(); err != nil {
		panic(fmt.Sprintf("sim: receiver on an empty in-memory store: %v", err))
	}
	// Timeout: the round trip is synchronous and in memory; the bound is
	// only there so that the HTTPSink's timer never fires.
	k.http = &outbox.HTTPSink{Client: &http.Client{Transport: k}, Timeout: time.Hour, ResultSizeMax: 16}
	return k
}

// reopen starts a new receiver on the store (recovering its records), as
// a restarted receiver process would; the old one is dropped.
func (k *sink) reopen() error {
	recv, err := outbox.NewReceiver(k.file, http.HandlerFunc(k.apply), discard)
	if err != nil {
		return err
	}
	k.recv = recv
	return nil
}

// deliver sends d to the receiver as the node's HTTPSink would and returns
// the sink's result. The request context is not the attempt's: a request
// on the wire is not recalled by a step-down.
func (k *sink) deliver(d outbox.Delivery, st *Stats) ([]byte, error) {
	k.stats = st
	defer func() { k.stats = nil }()
	result, err := k.http.Deliver(context.Background(), d)
	switch {
	case errors.Is(err, outbox.ErrFenced):
		st.Outbox.Fenced++
	case err == nil && k.replayed:
		st.Outbox.Deduplicated++
	}
	k.replayed = false
	return result, err
}

// apply is the handler behind the receiver: it applies the effect (counts
// it) and answers 200 "applied", or 503 for a transient failure. The
// Receiver runs it only for a key with no stored answer.
func (k *sink) apply(w http.ResponseWriter, req *http.Request) {
	payload, _ := io.ReadAll(req.Body)
	if k.transient() {
		k.stats.Faults[FaultSinkTransientFailure]++
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	key := req.Header.Get(outbox.HeaderIdempotencyKey)
	hi, err1 := strconv.ParseUint(key[:min(16, len(key))], 16, 64)
	lo, err2 := strconv.ParseUint(key[min(16, len(key)):], 16, 64)
	if len(key) != 32 || err1 != nil || err2 != nil {
		panic(fmt.Sprintf("sim: the receiver passed a bad key %q", key))
	}
	id := wire.Uint128{Lo: lo, Hi: hi}
	var transfer wire.Uint128
	if len(payload) >= 16 {
		transfer = wire.Uint128{Lo: le64(payload[0:]), Hi: le64(payload[8:])}
	}
	e := k.keys[id]
	if e == nil {
		e = &sinkEntry{transfer: transfer}
		k.keys[id] = e
	}
	e.applications++
	k.transfers[transfer]++
	k.stats.Outbox.Applied++
	_, _ = w.Write([]byte("applied"))
}

// check fails with InvariantEffectsDuplicate if key, or the transfer its
// payload carries, was applied more than once.
func (k *sink) check(key wire.Uint128) error {
	e := k.keys[key]
	if e == nil {
		return nil
	}
	if e.applications > 1 {
		return violation(InvariantEffectsDuplicate, "receiver applied effect %x:%x %d times", key.Hi, key.Lo, e.applications)
	}
	if n := k.transfers[e.transfer]; n > 1 {
		return violation(InvariantEffectsDuplicate, "receiver applied transfer %x:%x %d times (under different keys)", e.transfer.Hi, e.transfer.Lo, n)
	}
	return nil
}

func le64(b []byte) uint64 {
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// RoundTrip is the HTTP client transport of the simulated sink: it serves
// each request with the receiver, synchronously and in memory.
func (k *sink) RoundTrip(req *http.Request) (*http.Response, error) {
	w := &memResponse{header: http.Header{}}
	k.recv.ServeHTTP(w, req)
	k.replayed = w.header.Get("Chronon-Replayed") == "true"
	if req.Body != nil {
		req.Body.Close()
	}
	code := w.code
	if code == 0 {
		code = http.StatusOK
	}
	return &http.Response{
		Status: http.StatusText(code), StatusCode: code, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: w.header, Body: io.NopCloser(bytes.NewReader(w.body.Bytes())), ContentLength: int64(w.body.Len()), Request: req,
	}, nil
}

// memResponse records a response in memory.
type memResponse struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (w *memResponse) Header() http.Header { return w.header }

func (w *memResponse) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *memResponse) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(b)
}

// memFile is the receiver's store in memory (outbox.ReceiverFile). Bytes
// written are durable once synced; a crash keeps the synced bytes and a
// random prefix of the rest. Armed, it fails the fsync of the next fence
// record written (the receiver answers 503 and the simulator crashes it):
// never the fsync of a done record, whose loss after the handler ran would
// run the handler again — a limit of the Receiver (docs/outbox.md, "Known
// limits"), not a bug for the simulator to report.
type memFile struct {
	data   []byte
	synced int
	syncs  uint64
	// armed: fail the fsync after the next fence record; fencing: that
	// record was written; crashed: the fsync failed, a crash is due.
	armed, fencing, crashed bool
}

// errSimCrash is the failed fsync of an armed memFile.
var errSimCrash = errors.New("sim: receiver crashed inside fsync")

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(f.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	if f.armed && len(p) > 4 && p[4] == 1 { // a fence record (store format)
		f.fencing = true
	}
	if end := int(off) + len(p); end > len(f.data) {
		f.data = append(f.data, make([]byte, end-len(f.data))...)
	}
	return copy(f.data[off:], p), nil
}

func (f *memFile) Size() (int64, error) { return int64(len(f.data)), nil }

func (f *memFile) Truncate(size int64) error {
	if int(size) <= len(f.data) {
		f.data = f.data[:size]
	} else {
		f.data = append(f.data, make([]byte, int(size)-len(f.data))...)
	}
	f.synced = min(f.synced, len(f.data))
	return nil
}

func (f *memFile) Sync() error {
	if f.fencing {
		f.armed, f.fencing, f.crashed = false, false, true
		return errSimCrash
	}
	f.syncs++
	f.synced = len(f.data)
	return nil
}

func (f *memFile) Close() error { return nil }

// crash keeps the synced bytes and a random prefix of the others, and
// returns how many of those it kept.
func (f *memFile) crash(rng *rand.Rand) int {
	torn := 0
	if unsynced := len(f.data) - f.synced; unsynced > 0 {
		torn = rng.IntN(unsynced + 1)
	}
	f.data = f.data[:f.synced+torn]
	f.synced = len(f.data)
	f.armed, f.fencing, f.crashed = false, false, false
	return torn
}
