package chaos

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"

	"github.com/chronon-db/chronon/ledger"
	"github.com/chronon-db/chronon/outbox"
	"github.com/chronon-db/chronon/wire"
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

// counts returns how many effects were applied, how many transfers were
// applied more than once (with one example), and the deliveries served.
func (r *receiver) counts() (applied, twice int, example wire.Uint128, deliveries int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, n := range r.applied {
		if n > 1 {
			twice++
			example = wire.Uint128{Lo: id}
		}
	}
	return len(r.applied), twice, example, r.deliveries
}
