package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chronon-db/chronon/client"
	"github.com/chronon-db/chronon/cluster"
	"github.com/chronon-db/chronon/journal"
	"github.com/chronon-db/chronon/ledger"
	"github.com/chronon-db/chronon/outbox"
	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

func init() {
	register(command{name: "demo", summary: "run a local 3-replica cluster with a ledger workload (the default)", run: runDemo})
}

// runDefault is what `go run ./cmd/chronon` does: the demo with defaults.
func runDefault(stdout, stderr io.Writer) int { return runDemo(nil, stdout, stderr) }

// demoConfig is the demo's workload.
type demoConfig struct {
	replicas  int
	clients   int
	callers   int // goroutines per client; their calls coalesce
	batch     int // transfers per call
	duration  time.Duration
	transfers int // stop after this many transfers at most
	accounts  int
	preset    string
	dir       string
}

func runDemo(args []string, stdout, stderr io.Writer) int {
	var cfg demoConfig
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&cfg.replicas, "replicas", 3, "replicas in the local cluster (1, 3 or 5)")
	fs.IntVar(&cfg.clients, "clients", 16, "client sessions")
	fs.IntVar(&cfg.callers, "callers", 8, "concurrent callers per client (their calls are coalesced)")
	fs.IntVar(&cfg.batch, "batch", 64, "transfers per call")
	fs.DurationVar(&cfg.duration, "duration", 5*time.Second, "how long to run the workload")
	fs.IntVar(&cfg.transfers, "transfers", 1_500_000, "stop after this many transfers (at most the ledger's capacity: 2M, 8192 with --preset=test)")
	fs.IntVar(&cfg.accounts, "accounts", 10_000, "accounts to create")
	fs.StringVar(&cfg.preset, "preset", "production", "data file preset: production (1 MiB messages) or test")
	fs.StringVar(&cfg.dir, "dir", "", "directory for the data files (default: a temporary directory, removed at the end)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	printVersion(stdout)
	if err := demo(cfg, stdout); err != nil {
		fmt.Fprintf(stderr, "chronon: %v\n", err)
		return 1
	}
	return 0
}

func demo(cfg demoConfig, w io.Writer) error {
	jcfg, err := journal.Preset(cfg.preset)
	if err != nil {
		return err
	}
	caps := presetCapacity(jcfg)
	if cfg.accounts > caps.ledgerAccounts {
		return fmt.Errorf("--accounts=%d: the %s preset's ledger holds %d accounts", cfg.accounts, cfg.preset, caps.ledgerAccounts)
	}
	cfg.transfers = min(cfg.transfers, caps.ledgerTransfers)
	dir := cfg.dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "chronon-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	start := time.Now()
	c, err := cluster.Start(cluster.Config{
		Replicas: cfg.replicas,
		Dir:      dir,
		Preset:   cfg.preset,
		NewStateMachine: func(*outbox.Emitter) statemachine.StateMachine {
			l, err := ledger.New(ledger.Config{AccountsMax: caps.ledgerAccounts, TransfersMax: caps.ledgerTransfers})
			if err != nil {
				panic(err)
			}
			return l
		},
	})
	if err != nil {
		return err
	}
	defer c.Stop()
	fmt.Fprintf(w, "cluster: %d replicas on %v, data files in %s (%s preset), started in %v\n",
		cfg.replicas, c.Addresses(), dir, cfg.preset, time.Since(start).Round(time.Millisecond))

	ctx, cancel := context.WithTimeout(context.Background(), cfg.duration+60*time.Second)
	defer cancel()
	clients := make([]*client.Client, cfg.clients)
	for i := range clients {
		if clients[i], err = client.Dial(ctx, c.ClientConfig()); err != nil {
			return fmt.Errorf("client %d: %w", i, err)
		}
		defer clients[i].Close()
	}
	if err := createDemoAccounts(ctx, clients[0], cfg.accounts); err != nil {
		return err
	}
	fmt.Fprintf(w, "workload: %d clients x %d callers, %d transfers per call, for %v (at most %d transfers)\n",
		cfg.clients, cfg.callers, cfg.batch, cfg.duration, cfg.transfers)

	res, err := runTransfers(ctx, cfg, clients)
	if err != nil {
		return err
	}
	slices.Sort(res.latencies)
	pct := func(p float64) time.Duration {
		return res.latencies[min(len(res.latencies)-1, int(p*float64(len(res.latencies))))]
	}
	secs := res.elapsed.Seconds()
	fmt.Fprintf(w, "result: %d transfers in %d calls over %.2fs\n", res.transfers, len(res.latencies), secs)
	fmt.Fprintf(w, "  throughput: %.0f transfers/s, %.0f calls/s\n", float64(res.transfers)/secs, float64(len(res.latencies))/secs)
	fmt.Fprintf(w, "  call latency: p50 %v  p90 %v  p99 %v  max %v\n",
		pct(0.50).Round(time.Microsecond), pct(0.90).Round(time.Microsecond), pct(0.99).Round(time.Microsecond),
		res.latencies[len(res.latencies)-1].Round(time.Microsecond))

	if err := checkDemoBalances(ctx, clients[0], cfg.accounts, res.transfers); err != nil {
		return err
	}
	fmt.Fprintf(w, "check: sum of debits = sum of credits = %d over %d accounts\n", res.transfers, cfg.accounts)
	if err := c.WaitCaughtUp(10 * time.Second); err != nil {
		return err
	}
	nodes, err := c.Stop()
	if err != nil {
		return err
	}
	for i, n := range nodes {
		r := n.Replica()
		batched := float64(r.Counters.RequestsBatched) / max(float64(r.Counters.PreparesSent), 1)
		line := fmt.Sprintf("replica %d: view %d, commit op %d, state digest %s", i, r.View(), r.CommitMin(), r.StateDigest())
		if r.Counters.ViewChanges > 0 || r.Counters.SyncsDone > 0 {
			line += fmt.Sprintf(", %d view changes, %d state syncs", r.Counters.ViewChanges, r.Counters.SyncsDone)
		}
		if r.IsPrimary() {
			line += fmt.Sprintf(", primary: %d prepares, %.1f requests per prepare", r.Counters.PreparesSent, batched)
		}
		fmt.Fprintln(w, line)
	}
	return nil
}

func createDemoAccounts(ctx context.Context, cl *client.Client, n int) error {
	per := min(n, (cl.BodySizeMax())/ledger.AccountSize)
	for first := 1; first <= n; first += per {
		var batch []ledger.Account
		for id := first; id < first+per && id <= n; id++ {
			batch = append(batch, ledger.Account{ID: wire.Uint128{Lo: uint64(id)}, Ledger: 1, Code: 1})
		}
		failed, err := cl.CreateAccounts(ctx, batch)
		if err != nil {
			return fmt.Errorf("create accounts: %w", err)
		}
		if len(failed) > 0 {
			return fmt.Errorf("create account %d: %v", failed[0].Index, failed[0].Result)
		}
	}
	return nil
}

type demoResult struct {
	transfers int
	latencies []time.Duration
	elapsed   time.Duration
}

func runTransfers(ctx context.Context, cfg demoConfig, clients []*client.Client) (demoResult, error) {
	var (
		nextID   atomic.Uint64
		mu       sync.Mutex
		res      demoResult
		firstErr error
		wg       sync.WaitGroup
	)
	deadline := time.Now().Add(cfg.duration)
	start := time.Now()
	for _, cl := range clients {
		for range cfg.callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var lat []time.Duration
				done := 0
				batch := make([]ledger.Transfer, cfg.batch)
				for time.Now().Before(deadline) {
					first := nextID.Add(uint64(cfg.batch)) - uint64(cfg.batch)
					if first+uint64(cfg.batch) > uint64(cfg.transfers) {
						break
					}
					for i := range batch {
						id := first + uint64(i) + 1
						batch[i] = ledger.Transfer{
							ID:              wire.Uint128{Lo: id},
							DebitAccountID:  wire.Uint128{Lo: id%uint64(cfg.accounts) + 1},
							CreditAccountID: wire.Uint128{Lo: (id*7+3)%uint64(cfg.accounts) + 1},
							Amount:          wire.Uint128{Lo: 1},
							Ledger:          1,
							Code:            1,
						}
						if batch[i].DebitAccountID == batch[i].CreditAccountID {
							batch[i].CreditAccountID.Lo = batch[i].DebitAccountID.Lo%uint64(cfg.accounts) + 1
						}
					}
					t0 := time.Now()
					failed, err := cl.CreateTransfers(ctx, batch)
					if err == nil && len(failed) > 0 {
						err = fmt.Errorf("transfer %d: %v", failed[0].Index, failed[0].Result)
					}
					if err != nil {
						mu.Lock()
						firstErr = cmpErr(firstErr, err)
						mu.Unlock()
						return
					}
					lat = append(lat, time.Since(t0))
					done += cfg.batch
				}
				mu.Lock()
				res.latencies = append(res.latencies, lat...)
				res.transfers += done
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	if firstErr != nil {
		return res, firstErr
	}
	if len(res.latencies) == 0 {
		return res, fmt.Errorf("no call completed")
	}
	return res, nil
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

func checkDemoBalances(ctx context.Context, cl *client.Client, accounts, transfers int) error {
	var debits, credits uint64
	per := cl.BodySizeMax() / ledger.AccountSize // replies hold whole accounts
	for first := 1; first <= accounts; first += per {
		var ids []wire.Uint128
		for id := first; id < first+per && id <= accounts; id++ {
			ids = append(ids, wire.Uint128{Lo: uint64(id)})
		}
		got, err := cl.LookupAccounts(ctx, ids)
		if err != nil {
			return fmt.Errorf("lookup accounts: %w", err)
		}
		for _, a := range got {
			debits += a.DebitsPosted.Lo
			credits += a.CreditsPosted.Lo
		}
	}
	if debits != uint64(transfers) || credits != uint64(transfers) {
		return fmt.Errorf("balances do not add up: debits %d, credits %d, transfers %d", debits, credits, transfers)
	}
	return nil
}
