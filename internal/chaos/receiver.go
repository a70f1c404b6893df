package chaos

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"sync"

	"github.com/chronon-db/chronon/ledger"
	"github.com/chronon-db/chronon/outbox"
)

// receiver is the effects endpoint: an outbox.Receiver (deduplicating by
// Idempotency-Key) in front of logic that counts how often each transfer's
// effect was applied.
type receiver struct {
	rcv *outbox.Receiver
	srv *http.Server
	url string

	mu         sync.Mutex
	applied    map[uint64]int
	deliveries int
	bad        int
}

func openReceiver(path string) (*receiver, error) {
	r := &receiver{applied: map[uint64]int{}}
	logic := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if len(body) != ledger.TransferSize {
			r.mu.Lock()
			r.bad++
			r.mu.Unlock()
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		var tr ledger.Transfer
		tr.Decode(body)
		r.mu.Lock()
		r.applied[tr.ID.Lo]++
		r.mu.Unlock()
	})
	var err error
	if r.rcv, err = outbox.OpenReceiver(path, logic, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		return nil, fmt.Errorf("chaos: receiver: %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		r.rcv.Close()
		return nil, fmt.Errorf("chaos: receiver: %w", err)
	}
	r.url = "http://" + l.Addr().String() + "/effects"
	r.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.deliveries++
		r.mu.Unlock()
		r.rcv.ServeHTTP(w, req)
	})}
	go func() { _ = r.srv.Serve(l) }()
	return r, nil
}

func (r *receiver) close() {
	_ = r.srv.Close()
	_ = r.rcv.Close()
}

// URL implements EffectsSink.
func (r *receiver) URL() string { return r.url }

// Batch implements EffectsSink: the Receiver speaks the single form.
func (r *receiver) Batch() int { return 1 }

func (r *receiver) String() string { return "an outbox.Receiver in this process" }

// Applied implements EffectsSink.
func (r *receiver) Applied(context.Context) (map[uint64]int, int, int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.applied), r.deliveries, r.bad, nil
}
