package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/chronon-db/chronon/client"
	"github.com/chronon-db/chronon/kv"
	"github.com/chronon-db/chronon/ledger"
	"github.com/chronon-db/chronon/wire"
)

// errBudget ends a caller whose workload has used up its events (the
// ledger's transfer capacity); it is not a failure.
var errBudget = errors.New("bench: event budget used up")

// workload is what the callers run.
type workload interface {
	// prepare readies the cluster (creates accounts, writes every key)
	// through one client before the warm-up.
	prepare(ctx context.Context, cl *client.Client) error
	// newCaller returns caller i's state; callers run concurrently.
	newCaller(i int) caller
	// spent returns the fraction of the event budget used so far (0 for
	// workloads without one).
	spent() float64
}

// caller issues one call at a time.
type caller interface {
	// do makes one call and returns its number of events.
	do(ctx context.Context, cl *client.Client) (events int, err error)
}

// kvWorkload puts and gets fixed-size keys and values, uniformly over keys.
type kvWorkload struct {
	keys      uint64
	keySize   int
	valueSize int
	readRatio float64
	batch     int
	seed      uint64
}

// KVKey writes the kv workload's key number i into key (of the run's key
// size): i big-endian in its last (up to) 8 bytes, 'k' before. A peer
// benchmark uses it to write the same keys.
func KVKey(key []byte, i uint64) {
	n := min(len(key), 8)
	for j := range len(key) - n {
		key[j] = 'k'
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], i)
	copy(key[len(key)-n:], b[8-n:])
}

func (w *kvWorkload) prepare(ctx context.Context, cl *client.Client) error {
	if w.readRatio == 0 {
		return nil
	}
	// Write every key once so gets find values.
	key := make([]byte, w.keySize)
	value := make([]byte, w.valueSize)
	per := max(1, cl.BodySizeMax()/(4+w.keySize+w.valueSize))
	var body []byte
	for first := uint64(0); first < w.keys; first += uint64(per) {
		body = body[:0]
		n := 0
		for i := first; i < w.keys && i < first+uint64(per); i++ {
			KVKey(key, i)
			var err error
			if body, err = kv.AppendPut(body, key, value); err != nil {
				return err
			}
			n++
		}
		reply, err := cl.Request(ctx, kv.OperationPut, body)
		if err != nil {
			return fmt.Errorf("write keys: %w", err)
		}
		if err := checkPutReply(reply, n); err != nil {
			return fmt.Errorf("write keys: %w", err)
		}
	}
	return nil
}

func (w *kvWorkload) spent() float64 { return 0 }

func (w *kvWorkload) newCaller(i int) caller {
	c := &kvCaller{
		w:     w,
		rng:   rand.New(rand.NewPCG(w.seed, uint64(i))),
		key:   make([]byte, w.keySize),
		value: make([]byte, w.valueSize),
		body:  make([]byte, 0, w.batch*(4+w.keySize+w.valueSize)),
	}
	for j := range c.value {
		c.value[j] = byte(i + j)
	}
	return c
}

type kvCaller struct {
	w          *kvWorkload
	rng        *rand.Rand
	key, value []byte
	body       []byte
}

func (c *kvCaller) do(ctx context.Context, cl *client.Client) (int, error) {
	w := c.w
	read := c.rng.Float64() < w.readRatio
	c.body = c.body[:0]
	for range w.batch {
		KVKey(c.key, c.rng.Uint64N(w.keys))
		var err error
		if read {
			c.body, err = kv.AppendGet(c.body, c.key)
		} else {
			c.body, err = kv.AppendPut(c.body, c.key, c.value)
		}
		if err != nil {
			return 0, err
		}
	}
	if read {
		reply, err := cl.Submit(ctx, kv.OperationGet, c.body, splitGets)
		if err != nil {
			return 0, err
		}
		return w.batch, checkGetReply(reply, w.batch)
	}
	reply, err := cl.Submit(ctx, kv.OperationPut, c.body, splitPuts)
	if err != nil {
		return 0, err
	}
	return w.batch, checkPutReply(reply, w.batch)
}

// checkPutReply checks that a put reply holds n results, all ok.
func checkPutReply(reply []byte, n int) error {
	if len(reply) != n {
		return fmt.Errorf("put reply of %d results for %d puts", len(reply), n)
	}
	for i, r := range reply {
		if kv.Result(r) != kv.ResultOK {
			return fmt.Errorf("put %d: %v", i, kv.Result(r))
		}
	}
	return nil
}

// checkGetReply checks that a get reply holds n entries, each ok or
// not_found.
func checkGetReply(reply []byte, n int) error {
	for i := range n {
		res, _, size, err := kv.DecodeGet(reply)
		if err != nil {
			return fmt.Errorf("get %d: %w", i, err)
		}
		if res != kv.ResultOK && res != kv.ResultNotFound {
			return fmt.Errorf("get %d: %v", i, res)
		}
		reply = reply[size:]
	}
	if len(reply) != 0 {
		return fmt.Errorf("get reply has %d bytes past %d entries", len(reply), n)
	}
	return nil
}

// kvRecords counts the records of a put or get body.
func kvRecords(body []byte, put bool) (int, error) {
	n := 0
	for len(body) > 0 {
		if len(body) < 2 {
			return 0, kv.ErrTruncated
		}
		size := 2 + int(binary.LittleEndian.Uint16(body))
		if put {
			if len(body) < 4 {
				return 0, kv.ErrTruncated
			}
			size += 2 + int(binary.LittleEndian.Uint16(body[2:]))
		}
		if len(body) < size {
			return 0, kv.ErrTruncated
		}
		body = body[size:]
		n++
	}
	return n, nil
}

// splitPuts splits a coalesced put reply (one result byte per record) back
// per call.
func splitPuts(request, reply []byte, bounds []int) ([][]byte, error) {
	parts := make([][]byte, len(bounds)-1)
	off := 0
	for k := range parts {
		n, err := kvRecords(request[bounds[k]:bounds[k+1]], true)
		if err != nil {
			return nil, err
		}
		if off+n > len(reply) {
			return nil, fmt.Errorf("%w: put reply of %d results is short", client.ErrInvalidReply, len(reply))
		}
		parts[k] = reply[off : off+n]
		off += n
	}
	return parts, nil
}

// splitGets splits a coalesced get reply (one entry per record) back per
// call.
func splitGets(request, reply []byte, bounds []int) ([][]byte, error) {
	parts := make([][]byte, len(bounds)-1)
	off := 0
	for k := range parts {
		n, err := kvRecords(request[bounds[k]:bounds[k+1]], false)
		if err != nil {
			return nil, err
		}
		start := off
		for range n {
			_, _, size, err := kv.DecodeGet(reply[off:])
			if err != nil {
				return nil, fmt.Errorf("%w: %w", client.ErrInvalidReply, err)
			}
			off += size
		}
		parts[k] = reply[start:off]
	}
	return parts, nil
}

// ledgerWorkload creates transfers of 1 between accounts 1..accounts,
// debiting one of the first hot accounts when hot > 0.
type ledgerWorkload struct {
	accounts uint64
	hot      uint64
	batch    int
	budget   uint64 // transfers at most
	run      uint64 // high half of every transfer id, unique per run
	seed     uint64
	next     atomic.Uint64
	// effects: the ledger emits an effect per created transfer; a transfer
	// refused as outbox_full (the outbox at capacity) is counted and sent
	// again, not a failure.
	effects    bool
	created    atomic.Int64 // transfers created, every phase
	outboxFull atomic.Int64 // transfers refused as outbox_full, every phase
}

func (w *ledgerWorkload) prepare(ctx context.Context, cl *client.Client) error {
	per := max(1, cl.BodySizeMax()/ledger.AccountSize)
	var batch []ledger.Account
	for first := uint64(1); first <= w.accounts; first += uint64(per) {
		batch = batch[:0]
		for id := first; id < first+uint64(per) && id <= w.accounts; id++ {
			batch = append(batch, ledger.Account{ID: wire.Uint128{Lo: id}, Ledger: 1, Code: 1})
		}
		failed, err := cl.CreateAccounts(ctx, batch)
		if err != nil {
			return fmt.Errorf("create accounts: %w", err)
		}
		for _, f := range failed {
			if f.Result != ledger.ResultExists {
				return fmt.Errorf("create account %d: %v", batch[f.Index].ID.Lo, f.Result)
			}
		}
	}
	return nil
}

func (w *ledgerWorkload) spent() float64 {
	return float64(w.next.Load()) / float64(w.budget)
}

func (w *ledgerWorkload) newCaller(i int) caller {
	return &ledgerCaller{
		w:         w,
		rng:       rand.New(rand.NewPCG(w.seed, uint64(i))),
		transfers: make([]ledger.Transfer, w.batch),
	}
}

type ledgerCaller struct {
	w         *ledgerWorkload
	rng       *rand.Rand
	transfers []ledger.Transfer
}

func (c *ledgerCaller) do(ctx context.Context, cl *client.Client) (int, error) {
	w := c.w
	n := uint64(len(c.transfers))
	first := w.next.Add(n) - n
	if first+n > w.budget {
		return 0, errBudget
	}
	for i := range c.transfers {
		var debit uint64
		if w.hot > 0 {
			debit = c.rng.Uint64N(w.hot) + 1
		} else {
			debit = c.rng.Uint64N(w.accounts) + 1
		}
		credit := c.rng.Uint64N(w.accounts-1) + 1 // any account but debit
		if credit >= debit {
			credit++
		}
		c.transfers[i] = ledger.Transfer{
			ID:              wire.Uint128{Hi: w.run, Lo: first + uint64(i) + 1},
			DebitAccountID:  wire.Uint128{Lo: debit},
			CreditAccountID: wire.Uint128{Lo: credit},
			Amount:          wire.Uint128{Lo: 1},
			Ledger:          1,
			Code:            1,
		}
	}
	// With effects, transfers refused as outbox_full are sent again (same
	// ids) after a pause that doubles from 1 ms to 64 ms, as an application
	// would: the outbox's backpressure shows as latency of the call.
	batch := c.transfers
	pause := time.Millisecond
	for {
		failed, err := cl.CreateTransfers(ctx, batch)
		if err != nil {
			return 0, err
		}
		refused := batch[:0]
		last := -1
		for _, f := range failed {
			if int(f.Index) <= last || int(f.Index) >= len(batch) {
				return 0, fmt.Errorf("bench: reply lists failed transfer %d after %d of %d", f.Index, last, len(batch))
			}
			last = int(f.Index)
			if !w.effects || f.Result != ledger.ResultOutboxFull {
				return 0, fmt.Errorf("transfer %d: %v", batch[f.Index].ID.Lo, f.Result)
			}
			refused = append(refused, batch[f.Index]) // indices ascend: compacting in place is safe
		}
		w.created.Add(int64(len(batch) - len(refused)))
		if len(refused) == 0 {
			return len(c.transfers), nil
		}
		w.outboxFull.Add(int64(len(refused)))
		batch = refused
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		pause = min(2*pause, 64*time.Millisecond)
	}
}

// ledgerLookupWorkload looks up transfers a ledger workload created, by
// id, uniformly at random: ids (run, 1..count), the run found from the
// first account's oldest transfer. Events are the transfers found.
type ledgerLookupWorkload struct {
	count uint64
	batch int
	seed  uint64
	run   uint64
	found atomic.Int64
	asked atomic.Int64
}

func (w *ledgerLookupWorkload) prepare(ctx context.Context, cl *client.Client) error {
	ts, _, err := cl.AccountTransfers(ctx, ledger.AccountFilter{AccountID: wire.Uint128{Lo: 1}, Limit: 1, Flags: ledger.FilterDebits | ledger.FilterCredits})
	if err != nil {
		return fmt.Errorf("find the transfers' run: %w", err)
	}
	if len(ts) == 0 {
		return errors.New("bench: ledger-lookup needs transfers a ledger workload created (account 1 has none)")
	}
	w.run = ts[0].ID.Hi
	return nil
}

func (w *ledgerLookupWorkload) spent() float64 { return 0 }

func (w *ledgerLookupWorkload) newCaller(i int) caller {
	return &ledgerLookupCaller{w: w, rng: rand.New(rand.NewPCG(w.seed, uint64(i))), ids: make([]wire.Uint128, w.batch)}
}

type ledgerLookupCaller struct {
	w   *ledgerLookupWorkload
	rng *rand.Rand
	ids []wire.Uint128
}

func (c *ledgerLookupCaller) do(ctx context.Context, cl *client.Client) (int, error) {
	for i := range c.ids {
		c.ids[i] = wire.Uint128{Hi: c.w.run, Lo: 1 + c.rng.Uint64N(c.w.count)}
	}
	ts, err := cl.LookupTransfers(ctx, c.ids)
	if err != nil {
		return 0, err
	}
	c.w.asked.Add(int64(len(c.ids)))
	c.w.found.Add(int64(len(ts)))
	return len(ts), nil
}
