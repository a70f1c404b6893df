package postgres

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chronon-db/chronon/client"
	"github.com/chronon-db/chronon/cluster"
	"github.com/chronon-db/chronon/ledger"
	"github.com/chronon-db/chronon/outbox"
	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
	"github.com/jackc/pgx/v5"
)

// TestClusterToPostgresAcrossFailover: a 3-replica ledger whose every
// created transfer emits an effect, delivered by this sink, which inserts
// the transfer into a table without a unique constraint; the primary is
// stopped in the middle of the load and restarted. Every transfer ends as
// exactly one row: rows = transfers, no duplicate, none missing.
func TestClusterToPostgresAcrossFailover(t *testing.T) {
	pool := testPool(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE transfers (id text NOT NULL, amount bigint NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	sink, err := New(ctx, pool, Config{Apply: func(ctx context.Context, tx pgx.Tx, d outbox.Delivery) ([]byte, error) {
		if len(d.Payload) != ledger.TransferSize {
			return nil, outbox.Permanent(outbox.ReasonUserMin, fmt.Errorf("payload of %d bytes", len(d.Payload)))
		}
		var tr ledger.Transfer
		tr.Decode(d.Payload)
		_, err := tx.Exec(ctx, `INSERT INTO transfers (id, amount) VALUES ($1, $2)`, tr.ID.String(), int64(tr.Amount.Lo))
		return nil, err
	}})
	if err != nil {
		t.Fatal(err)
	}
	id := wire.Uint128{Lo: 0x9e}
	c, err := cluster.Start(cluster.Config{
		Replicas: 3,
		Dir:      t.TempDir(),
		Cluster:  id,
		Outbox:   &outbox.Config{Cluster: id, EffectsMax: 1024, PayloadSizeMax: ledger.TransferSize},
		Sink:     sink,
		NewStateMachine: func(em *outbox.Emitter) statemachine.StateMachine {
			l, err := ledger.New(ledger.Config{AccountsMax: 64, TransfersMax: 8192, Effects: em, EffectsTarget: []byte("postgres")})
			if err != nil {
				panic(err)
			}
			return l
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = c.Stop() })

	const accounts, clients, batch = 16, 4, 16
	admin := dial(t, c)
	var as []ledger.Account
	for i := 1; i <= accounts; i++ {
		as = append(as, ledger.Account{ID: wire.Uint128{Lo: uint64(i)}, Ledger: 1, Code: 1})
	}
	if failed, err := admin.CreateAccounts(ctx, as); err != nil || len(failed) != 0 {
		t.Fatalf("accounts: %v %v", failed, err)
	}
	next := uint64(0)
	load := func(rounds int) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, clients)
		for range clients {
			cl := dial(t, c)
			base := next
			next += uint64(rounds * batch)
			wg.Add(1)
			go func() {
				defer wg.Done()
				cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
				defer cancel()
				for r := range rounds {
					trs := make([]ledger.Transfer, batch)
					for i := range trs {
						n := base + uint64(r*batch+i) + 1
						trs[i] = ledger.Transfer{ID: wire.Uint128{Lo: n}, DebitAccountID: wire.Uint128{Lo: n%accounts + 1},
							CreditAccountID: wire.Uint128{Lo: (n+1)%accounts + 1}, Amount: wire.Uint128{Lo: 1}, Ledger: 1, Code: 1}
					}
					// A full outbox refuses transfers (outbox_full): send
					// those again after a pause, as a client would.
					for len(trs) > 0 {
						failed, err := cl.CreateTransfers(cctx, trs)
						if err != nil {
							errs <- fmt.Errorf("transfers: %w", err)
							return
						}
						var again []ledger.Transfer
						for _, f := range failed {
							if f.Result != ledger.ResultOutboxFull {
								errs <- fmt.Errorf("transfer %v: %v", trs[f.Index].ID, f.Result)
								return
							}
							again = append(again, trs[f.Index])
						}
						trs = again
						if len(trs) > 0 {
							time.Sleep(20 * time.Millisecond)
						}
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	load(10)
	if _, err := c.StopReplica(0); err != nil { // the primary of view 0
		t.Fatal(err)
	}
	load(10)
	if err := c.StartReplica(0); err != nil {
		t.Fatal(err)
	}
	load(5)
	want := int(next)
	deadline := time.Now().Add(60 * time.Second)
	for {
		var rows, distinct int
		if err := pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT id) FROM transfers`).Scan(&rows, &distinct); err != nil {
			t.Fatal(err)
		}
		if rows != distinct {
			t.Fatalf("%d rows for %d transfers: an effect was applied twice", rows, distinct)
		}
		if rows == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d transfers in PostgreSQL", rows, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%d transfers, %d rows, no duplicate", want, want)
}

func dial(t *testing.T, c *cluster.Cluster) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := client.Dial(ctx, c.ClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}
