package chaos

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chronon-db/chronon/client"
	"github.com/chronon-db/chronon/ledger"
	"github.com/chronon-db/chronon/wire"
)

// workload drives transfers between a few accounts from several client
// sessions, each with one call in flight at a time, and records what was
// acknowledged and when.
type workload struct {
	accounts uint64
	batch    int
	pause    time.Duration

	next atomic.Uint64 // last transfer id handed out

	mu    sync.Mutex
	acked []idRange // acknowledged as created
	// failedResults counts transfers the ledger answered with an error
	// result (not created), by result.
	failedResults map[ledger.Result]int
	// acks holds, for each acknowledged call, the time it was made and the
	// time its reply came, in order of replies.
	acks []ack
	errs []error
}

type idRange struct{ first, last uint64 }

type ack struct{ sent, replied time.Time }

// run makes calls on c until ctx ends.
func (w *workload) run(ctx context.Context, c *client.Client) {
	batch := make([]ledger.Transfer, w.batch)
	for ctx.Err() == nil {
		last := w.next.Add(uint64(w.batch))
		first := last - uint64(w.batch) + 1
		for i := range batch {
			id := first + uint64(i)
			batch[i] = ledger.Transfer{ID: wire.Uint128{Lo: id}, DebitAccountID: wire.Uint128{Lo: id%w.accounts + 1},
				CreditAccountID: wire.Uint128{Lo: (id+1)%w.accounts + 1}, Amount: wire.Uint128{Lo: 1}, Ledger: 1, Code: 1}
		}
		sent := time.Now()
		failed, err := c.CreateTransfers(ctx, batch)
		replied := time.Now()
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, context.Canceled) {
				w.mu.Lock()
				w.errs = append(w.errs, err)
				w.mu.Unlock()
			}
			return
		}
		w.mu.Lock()
		w.acks = append(w.acks, ack{sent: sent, replied: replied})
		for _, f := range failed {
			w.failedResults[f.Result]++
		}
		// The ids that did not fail are created; record them as ranges.
		start := first
		for _, f := range failed {
			id := first + uint64(f.Index)
			if id > start {
				w.acked = append(w.acked, idRange{start, id - 1})
			}
			start = id + 1
		}
		if start <= last {
			w.acked = append(w.acked, idRange{start, last})
		}
		w.mu.Unlock()
		if w.pause > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(w.pause):
			}
		}
	}
}

// firstAckAfter returns the reply time of the first acknowledged call made
// at or after t, and whether there is one.
func (w *workload) firstAckAfter(t time.Time) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var best time.Time
	for i := len(w.acks) - 1; i >= 0; i-- {
		a := w.acks[i]
		if a.replied.Before(t) {
			break
		}
		if !a.sent.Before(t) && (best.IsZero() || a.replied.Before(best)) {
			best = a.replied
		}
	}
	return best, !best.IsZero()
}

// ackCount returns the number of acknowledged calls.
func (w *workload) ackCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acks)
}
