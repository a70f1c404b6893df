package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chronon-db/chronon/ledger"
	"github.com/chronon-db/chronon/outbox"
)

// effectSink is the ledger-with-effects workload's built-in HTTP sink: the
// local cluster's outbox POSTs every created transfer to it (outbox.HTTPSink,
// one request per effect). It is idempotent the way a sink must be: it
// applies each transfer's effect once, answers a repeated key with the same
// 200, and counts the repeats (re-deliveries). It keeps what it applied in
// memory, a bit per transfer of the run (the run's transfer ids are
// consecutive), so it measures Chronon's dispatch path, not a sink's own
// storage.
type effectSink struct {
	run     uint64 // the run's transfer ids are {Hi: run, Lo: 1..budget}
	budget  uint64
	latency time.Duration // added to every request, as a slow webhook would

	mu      sync.Mutex
	applied []uint64 // bit Lo-1 set once transfer Lo's effect is applied

	posts      atomic.Int64 // effects answered 200
	unique     atomic.Int64 // effects applied (first delivery of a key)
	duplicates atomic.Int64 // requests for an effect already applied
	rejected   atomic.Int64 // requests answered 400 (not this run's)

	ln  net.Listener
	srv *http.Server
}

// newEffectSink starts the sink on a loopback port.
func newEffectSink(run, budget uint64, latency time.Duration) (*effectSink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("effect sink: %w", err)
	}
	s := &effectSink{run: run, budget: budget, latency: latency, applied: make([]uint64, (budget+63)/64), ln: ln}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// URL is the effects' target.
func (s *effectSink) URL() string { return "http://" + s.ln.Addr().String() + "/effects" }

// close stops the server and drops its connections.
func (s *effectSink) close() { _ = s.srv.Close() }

// ServeHTTP applies one effect (its body is the created transfer), or
// many in the HTTP batch form (outbox.ContentTypeBatch).
func (s *effectSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Content-Type") == outbox.ContentTypeBatch {
		s.serveBatch(w, r)
		return
	}
	var body [ledger.TransferSize + 1]byte
	n, err := io.ReadFull(io.LimitReader(r.Body, int64(len(body))), body[:])
	if !errors.Is(err, io.ErrUnexpectedEOF) || n != ledger.TransferSize || r.Header.Get(outbox.HeaderIdempotencyKey) == "" {
		s.rejected.Add(1)
		http.Error(w, "want a 128-byte transfer with an Idempotency-Key", http.StatusBadRequest)
		return
	}
	if _, err := strconv.ParseUint(r.Header.Get(outbox.HeaderFencingToken), 10, 32); err != nil {
		s.rejected.Add(1)
		http.Error(w, "missing or malformed fencing token", http.StatusBadRequest)
		return
	}
	if !s.wait(r) {
		return
	}
	if status := s.apply(body[:ledger.TransferSize]); status != http.StatusOK {
		http.Error(w, "not a transfer of this run", status)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// serveBatch applies a batch request's effects, one outcome each.
func (s *effectSink) serveBatch(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		return
	}
	effects, err := outbox.DecodeBatchRequest(nil, body)
	if err != nil {
		s.rejected.Add(1)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if !s.wait(r) {
		return
	}
	outcomes := make([]outbox.BatchOutcome, len(effects))
	for i := range effects {
		outcomes[i].Status = http.StatusBadRequest
		if len(effects[i].Payload) == ledger.TransferSize {
			outcomes[i].Status = s.apply(effects[i].Payload)
		} else {
			s.rejected.Add(1)
		}
	}
	w.Header().Set("Content-Type", outbox.ContentTypeBatch)
	_, _ = w.Write(outbox.AppendBatchResponse(nil, outcomes))
}

// wait adds the sink's latency to a request; false if the request ended.
func (s *effectSink) wait(r *http.Request) bool {
	if s.latency <= 0 {
		return true
	}
	select {
	case <-time.After(s.latency):
		return true
	case <-r.Context().Done():
		return false
	}
}

// apply applies one transfer's effect once and returns 200, or 400 for a
// transfer not of this run.
func (s *effectSink) apply(transfer []byte) int {
	hi := binary.LittleEndian.Uint64(transfer[8:16])
	lo := binary.LittleEndian.Uint64(transfer[0:8])
	if hi != s.run || lo == 0 || lo > s.budget {
		s.rejected.Add(1)
		return http.StatusBadRequest
	}
	i, bit := (lo-1)/64, uint64(1)<<((lo-1)%64)
	s.mu.Lock()
	first := s.applied[i]&bit == 0
	s.applied[i] |= bit
	s.mu.Unlock()
	if first {
		s.unique.Add(1)
	} else {
		s.duplicates.Add(1)
	}
	s.posts.Add(1)
	return http.StatusOK
}

// drain waits until the sink has applied want effects, ctx ends or timeout
// passes, and returns how long it waited.
func (s *effectSink) drain(ctx context.Context, want int64, timeout time.Duration) time.Duration {
	t0 := time.Now()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	for s.unique.Load() < want {
		select {
		case <-poll.C:
		case <-deadline.C:
			return time.Since(t0)
		case <-ctx.Done():
			return time.Since(t0)
		}
	}
	return time.Since(t0)
}

// EffectsResult is what the ledger-with-effects workload measured of the
// outbox: every created transfer emits one effect, delivered to the
// built-in sink.
type EffectsResult struct {
	// SinkLatencyMicros is the delay the sink added to every request.
	SinkLatencyMicros float64 `json:"sink_latency_us"`
	// Delivered is the effects applied by the sink (first deliveries) in
	// the measured phase; DeliveredPerSecond their rate.
	Delivered          int64   `json:"delivered"`
	DeliveredPerSecond float64 `json:"delivered_per_s"`
	// OutboxFull counts the refusals of transfers with outbox_full (the
	// outbox at capacity) in the measured phase; the callers send refused
	// transfers again after a pause, so a transfer may count several times
	// and the wait shows in the calls' latency.
	OutboxFull int64 `json:"outbox_full"`
	// AdmissionHeld counts the requests the primaries held back before
	// the outbox was full (docs/outbox.md, "Admission"), AdmissionExpired
	// those prepared anyway after the admission wait, over the whole run.
	AdmissionHeld    int64 `json:"admission_held"`
	AdmissionExpired int64 `json:"admission_expired"`
	// Created is every transfer created in the run (warm-up, measured
	// phase and calls finishing after it); Applied the effects the sink
	// applied by the end of the drain; Missing = Created - Applied.
	Created int64 `json:"created"`
	Applied int64 `json:"applied"`
	Missing int64 `json:"missing"`
	// PendingAtEnd is the effects created but not yet applied when the
	// measured phase ended; DrainSeconds the time to apply all of them
	// after the load stopped (or the drain timeout), DrainPerSecond the
	// rate.
	PendingAtEnd   int64   `json:"pending_at_end"`
	DrainSeconds   float64 `json:"drain_s"`
	DrainPerSecond float64 `json:"drain_per_s"`
	// Posts is every request the sink answered with 200; Redeliveries the
	// ones for an effect it had already applied, RedeliveryRatio their
	// share of Posts.
	Posts           int64   `json:"posts"`
	Redeliveries    int64   `json:"redeliveries"`
	RedeliveryRatio float64 `json:"redelivery_ratio"`
	// Rejected is requests the sink refused as malformed (should be 0).
	Rejected int64 `json:"rejected"`
}
