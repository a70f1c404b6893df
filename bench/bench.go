package bench

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chronon-db/chronon/client"
	"github.com/chronon-db/chronon/cluster"
	"github.com/chronon-db/chronon/journal"
	"github.com/chronon-db/chronon/outbox"
	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// Workloads.
const (
	WorkloadKV     = "kv"
	WorkloadLedger = "ledger"
)

// Config is one benchmark run.
type Config struct {
	// Workload is WorkloadKV or WorkloadLedger.
	Workload string

	// Addresses of a running cluster, by replica index; empty starts a
	// local cluster in this process.
	Addresses []string
	// Cluster is the running cluster's id.
	Cluster wire.Uint128

	// Replicas is the local cluster's size (1, 3 or 5).
	Replicas int
	// Dir holds the local cluster's data files; empty uses a temporary
	// directory, removed at the end.
	Dir string
	// NewStateMachine makes each local replica's state machine (a kv.Store
	// or a ledger.Ledger, to match Workload).
	NewStateMachine func() statemachine.StateMachine

	// Preset names the data file preset of the local cluster, and gives the
	// message size limit of a running one ("production" or "test").
	Preset string

	// Clients is the number of client sessions; Callers the concurrent
	// callers of each (their calls may share requests).
	Clients, Callers int
	// Batch is the events (kv records, transfers) per call.
	Batch int
	// Warmup runs the load unmeasured; Duration is the measured phase.
	Warmup, Duration time.Duration

	// KV: key and value sizes in bytes, the share of calls that are gets,
	// and the number of distinct keys (uniformly chosen).
	KeySize, ValueSize int
	ReadRatio          float64
	Keys               int

	// Ledger: accounts 1..Accounts are created first; with HotAccounts > 0
	// every transfer debits one of the first HotAccounts. Transfers bounds
	// the transfers of the run (the ledger's capacity); the warm-up ends
	// early once it has used a quarter of them, and the measured phase
	// when they are all used.
	Accounts, HotAccounts int
	Transfers             int

	// Seed seeds the callers' choices of keys and accounts.
	Seed uint64

	// Progress, when set, receives a progress line once per second,
	// rewritten in place with a carriage return and cleared at the end.
	Progress io.Writer
	// Logger receives the replicas' and clients' logs (default discarded).
	Logger *slog.Logger

	// onMeasure, when set, is called as the measured phase starts (tests).
	onMeasure func()
}

// Result is what a run measured. Durations are in microseconds, rates per
// second.
type Result struct {
	Workload string `json:"workload"`
	// InProcess is true when the replicas ran in this process (so CPU time
	// and RSS include them).
	InProcess bool     `json:"in_process"`
	Replicas  int      `json:"replicas"`
	Preset    string   `json:"preset"`
	Addresses []string `json:"addresses"`
	Clients   int      `json:"clients"`
	Callers   int      `json:"callers"`
	Batch     int      `json:"batch"`

	WarmupSeconds   float64 `json:"warmup_s"`
	DurationSeconds float64 `json:"duration_s"`
	// ElapsedSeconds is the measured phase as it ran (shorter than
	// DurationSeconds when interrupted or out of transfers).
	ElapsedSeconds float64 `json:"elapsed_s"`
	// Partial is set when the run was interrupted; Note says why the
	// measured phase ended early, if it did.
	Partial bool   `json:"partial"`
	Note    string `json:"note,omitempty"`

	// Requests are completed calls, Events their kv records or transfers,
	// counted in the measured phase.
	Requests          int64   `json:"requests"`
	Events            int64   `json:"events"`
	RequestsPerSecond float64 `json:"requests_per_s"`
	EventsPerSecond   float64 `json:"events_per_s"`

	Latency LatencyResult `json:"latency_us"`

	// CPUUserSeconds and CPUSysSeconds are this process's CPU time in the
	// measured phase; PeakRSSBytes its peak resident set since it started.
	CPUUserSeconds float64 `json:"cpu_user_s"`
	CPUSysSeconds  float64 `json:"cpu_sys_s"`
	PeakRSSBytes   int64   `json:"peak_rss_bytes"`
}

// LatencyResult holds call latency percentiles in microseconds.
type LatencyResult struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
}

// Check returns an error for a Config that cannot run.
func (cfg *Config) Check() error {
	switch {
	case cfg.Workload != WorkloadKV && cfg.Workload != WorkloadLedger:
		return fmt.Errorf("workload %q: want kv or ledger", cfg.Workload)
	case len(cfg.Addresses) == 0 && cfg.Replicas != 1 && cfg.Replicas != 3 && cfg.Replicas != 5:
		return fmt.Errorf("replicas %d: want 1, 3 or 5", cfg.Replicas)
	case len(cfg.Addresses) == 0 && cfg.NewStateMachine == nil:
		return errors.New("a local cluster needs NewStateMachine")
	case len(cfg.Addresses) > 0 && cfg.Cluster.IsZero():
		return errors.New("a running cluster needs its cluster id")
	case cfg.Clients < 1 || cfg.Callers < 1 || cfg.Batch < 1:
		return fmt.Errorf("clients %d, callers %d, batch %d: each must be at least 1", cfg.Clients, cfg.Callers, cfg.Batch)
	case cfg.Warmup < 0 || cfg.Duration <= 0:
		return fmt.Errorf("warmup %v, duration %v: want warmup >= 0 and duration > 0", cfg.Warmup, cfg.Duration)
	}
	if _, err := journal.Preset(cfg.Preset); err != nil {
		return err
	}
	if cfg.Workload == WorkloadKV {
		switch {
		case cfg.KeySize < 1 || cfg.KeySize > 64:
			return fmt.Errorf("key size %d: want 1 to 64 bytes", cfg.KeySize)
		case cfg.ValueSize < 0:
			return fmt.Errorf("value size %d", cfg.ValueSize)
		case cfg.ReadRatio < 0 || cfg.ReadRatio > 1:
			return fmt.Errorf("read ratio %v: want 0 to 1", cfg.ReadRatio)
		case cfg.Keys < 1:
			return fmt.Errorf("keys %d: want at least 1", cfg.Keys)
		case cfg.KeySize < 8 && uint64(cfg.Keys) > 1<<(8*cfg.KeySize):
			return fmt.Errorf("%d keys do not fit in %d-byte keys", cfg.Keys, cfg.KeySize)
		}
		return nil
	}
	switch {
	case cfg.Accounts < 2:
		return fmt.Errorf("accounts %d: want at least 2", cfg.Accounts)
	case cfg.HotAccounts < 0 || cfg.HotAccounts > cfg.Accounts:
		return fmt.Errorf("hot accounts %d: want 0 to accounts (%d)", cfg.HotAccounts, cfg.Accounts)
	case cfg.Transfers < 4*cfg.Batch:
		return fmt.Errorf("transfers %d: want at least 4 batches (%d)", cfg.Transfers, 4*cfg.Batch)
	}
	return nil
}

// Run runs the benchmark. When ctx ends the load stops, the local cluster
// stops, and Run returns what was measured so far with Partial set.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.Check(); err != nil {
		return Result{}, fmt.Errorf("bench: %w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	jcfg, _ := journal.Preset(cfg.Preset)
	res := Result{
		Workload: cfg.Workload, Preset: cfg.Preset, Clients: cfg.Clients, Callers: cfg.Callers, Batch: cfg.Batch,
		WarmupSeconds: cfg.Warmup.Seconds(), DurationSeconds: cfg.Duration.Seconds(),
	}
	ccfg := client.Config{Cluster: cfg.Cluster, Addresses: cfg.Addresses, MessageSizeMax: jcfg.MessageSizeMax, Logger: cfg.Logger}
	if len(cfg.Addresses) == 0 {
		dir := cfg.Dir
		if dir == "" {
			tmp, err := os.MkdirTemp("", "chronon-benchmark-")
			if err != nil {
				return res, fmt.Errorf("bench: %w", err)
			}
			defer os.RemoveAll(tmp)
			dir = tmp
		}
		c, err := cluster.Start(cluster.Config{
			Replicas: cfg.Replicas,
			Dir:      dir,
			Preset:   cfg.Preset,
			NewStateMachine: func(*outbox.Emitter) statemachine.StateMachine {
				return cfg.NewStateMachine()
			},
			Logger: cfg.Logger,
		})
		if err != nil {
			return res, fmt.Errorf("bench: %w", err)
		}
		defer func() { _, _ = c.Stop() }()
		res.InProcess = true
		ccfg = c.ClientConfig()
	}
	res.Replicas = len(ccfg.Addresses)
	res.Addresses = ccfg.Addresses

	var w workload
	var seed [16]byte
	_, _ = rand.Read(seed[:])
	if cfg.Seed == 0 {
		cfg.Seed = binary.LittleEndian.Uint64(seed[:])
	}
	switch cfg.Workload {
	case WorkloadKV:
		w = &kvWorkload{keys: uint64(cfg.Keys), keySize: cfg.KeySize, valueSize: cfg.ValueSize,
			readRatio: cfg.ReadRatio, batch: cfg.Batch, seed: cfg.Seed}
	case WorkloadLedger:
		w = &ledgerWorkload{accounts: uint64(cfg.Accounts), hot: uint64(cfg.HotAccounts), batch: cfg.Batch,
			budget: uint64(cfg.Transfers), run: binary.LittleEndian.Uint64(seed[8:]) | 1, seed: cfg.Seed}
	}

	clients := make([]*client.Client, cfg.Clients)
	defer func() {
		for _, cl := range clients {
			if cl != nil {
				cl.Close()
			}
		}
	}()
	for i := range clients {
		var err error
		if clients[i], err = client.Dial(ctx, ccfg); err != nil {
			return res, fmt.Errorf("bench: client %d: %w", i, err)
		}
	}
	if err := w.prepare(ctx, clients[0]); err != nil {
		return res, fmt.Errorf("bench: %w", err)
	}
	return drive(ctx, cfg, w, clients, res)
}

// Phases of a run.
const (
	phaseWarmup int32 = iota
	phaseMeasure
	phaseDone
)

// drive runs the callers through the warm-up and the measured phase.
func drive(ctx context.Context, cfg Config, w workload, clients []*client.Client, res Result) (Result, error) {
	var (
		phase            atomic.Int32
		requests, events atomic.Int64 // every phase, for the progress line
		wg               sync.WaitGroup
		errMu            sync.Mutex
		firstErr         error
		failed           = make(chan struct{}) // closed on the first error
	)
	// loadCtx ends calls in flight when the run is interrupted, or when
	// they outlast the grace period after the measured phase.
	loadCtx, cancelLoad := context.WithCancel(ctx)
	defer cancelLoad()
	hists := make([]*latencies, len(clients))
	counts := make([]struct {
		requests, events int64
		_                [48]byte // one cache line each
	}, len(clients)*cfg.Callers)
	for ci, cl := range clients {
		hists[ci] = newLatencies()
		for k := range cfg.Callers {
			slot := ci*cfg.Callers + k
			c := w.newCaller(slot)
			hist := hists[ci]
			wg.Add(1)
			go func() {
				defer wg.Done()
				for phase.Load() != phaseDone {
					t0 := time.Now()
					n, err := c.do(loadCtx, cl)
					d := time.Since(t0)
					if err != nil {
						if loadCtx.Err() == nil && !errors.Is(err, errBudget) {
							errMu.Lock()
							if firstErr == nil {
								firstErr = err
								close(failed)
							}
							errMu.Unlock()
						}
						return
					}
					requests.Add(1)
					events.Add(int64(n))
					if phase.Load() == phaseMeasure {
						hist.Record(d)
						counts[slot].requests++
						counts[slot].events += int64(n)
					}
				}
			}()
		}
	}
	callersDone := make(chan struct{})
	go func() { wg.Wait(); close(callersDone) }()

	progress := newProgress(cfg.Progress, &requests, &events)
	defer progress.clear()

	// Warm-up: until its duration, a quarter of the event budget, the end
	// of every caller, a failed call, or an interrupt.
	start := time.Now()
	warmupEnd := time.NewTimer(cfg.Warmup)
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	interrupted := false
warmup:
	for {
		select {
		case <-warmupEnd.C:
			break warmup
		case <-poll.C:
			if w.spent() >= 0.25 {
				break warmup
			}
			progress.tick("warm-up", time.Since(start), cfg.Warmup)
		case <-callersDone:
			break warmup
		case <-failed:
			break warmup
		case <-ctx.Done():
			interrupted = true
			break warmup
		}
	}
	warmupEnd.Stop()

	// Measured phase.
	u0 := getUsage()
	t0 := time.Now()
	phase.Store(phaseMeasure)
	if cfg.onMeasure != nil {
		cfg.onMeasure()
	}
	measureEnd := time.NewTimer(cfg.Duration)
	if !interrupted {
	measure:
		for {
			select {
			case <-measureEnd.C:
				break measure
			case <-poll.C:
				progress.tick("measure", time.Since(t0), cfg.Duration)
			case <-callersDone:
				if w.spent() >= 1 {
					res.Note = "stopped when the transfer budget (--transfers) was used up"
				}
				break measure
			case <-failed:
				break measure
			case <-ctx.Done():
				interrupted = true
				break measure
			}
		}
	}
	measureEnd.Stop()
	phase.Store(phaseDone)
	cut := interrupted // cut off the calls in flight at once
	select {
	case <-failed:
		cut = true
	default:
	}
	elapsed := time.Since(t0)
	u1 := getUsage()

	// Let calls in flight finish (they are not counted), then cut them off.
	if cut {
		cancelLoad()
	}
	grace := time.NewTimer(10 * time.Second)
	select {
	case <-callersDone:
	case <-grace.C:
		cancelLoad()
		<-callersDone
	}
	grace.Stop()

	if interrupted {
		res.Partial = true
		res.Note = "interrupted"
	}
	res.ElapsedSeconds = elapsed.Seconds()
	for _, c := range counts {
		res.Requests += c.requests
		res.Events += c.events
	}
	if secs := elapsed.Seconds(); secs > 0 {
		res.RequestsPerSecond = float64(res.Requests) / secs
		res.EventsPerSecond = float64(res.Events) / secs
	}
	all := hists[0]
	for _, h := range hists[1:] {
		all.merge(h)
	}
	us := func(q float64) float64 { return float64(all.quantile(q)) / 1e3 }
	res.Latency = LatencyResult{P50: us(0.50), P90: us(0.90), P99: us(0.99), P999: us(0.999), Max: float64(all.max) / 1e3}
	res.CPUUserSeconds = (u1.user - u0.user).Seconds()
	res.CPUSysSeconds = (u1.sys - u0.sys).Seconds()
	res.PeakRSSBytes = u1.peakRSS
	if firstErr != nil {
		return res, fmt.Errorf("bench: %w", firstErr)
	}
	return res, nil
}
