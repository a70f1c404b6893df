package bench

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/chronon-db/chronon/client"
	"github.com/chronon-db/chronon/cluster"
	cio "github.com/chronon-db/chronon/io"
	"github.com/chronon-db/chronon/journal"
	"github.com/chronon-db/chronon/ledger"
	"github.com/chronon-db/chronon/outbox"
	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// Workloads.
const (
	WorkloadKV     = "kv"
	WorkloadLedger = "ledger"
	// WorkloadLedgerEffects is the ledger workload with an outbox: every
	// created transfer emits one effect, which the local cluster's primary
	// delivers by HTTP to a sink the benchmark runs (local cluster only).
	WorkloadLedgerEffects = "ledger-effects"
	// WorkloadLedgerLookup looks up, by id, transfers an earlier ledger
	// workload created on a running cluster (--transfers of them).
	WorkloadLedgerLookup = "ledger-lookup"
)

// Config is one benchmark run.
type Config struct {
	// Workload is WorkloadKV, WorkloadLedger or WorkloadLedgerEffects.
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
	// NewEffectsMachine makes each local replica's ledger for
	// WorkloadLedgerEffects: every created transfer emits an effect to
	// target through effects (ledger.Config.Effects, EffectsTarget).
	NewEffectsMachine func(effects *outbox.Emitter, target []byte) statemachine.StateMachine
	// Outbox is the local cluster's outbox table for WorkloadLedgerEffects
	// (its Cluster is set by Run).
	Outbox outbox.Config
	// SinkLatency delays every response of the effects sink, as a slow
	// webhook would; DrainTimeout bounds the wait, after the measured
	// phase, for the effects still pending (default 60 s).
	SinkLatency, DrainTimeout time.Duration
	// SinkBatch is the effects per request to the sink: above 1 the
	// cluster delivers with outbox.HTTPBatchSink (the HTTP batch form,
	// up to SinkBatch effects per POST), 0 or 1 with outbox.HTTPSink (one
	// POST per effect). SinkWorkers is the cluster's concurrent deliveries
	// (node.Config.EffectsWorkers; 0: its default).
	SinkBatch, SinkWorkers int
	// Admission is the local cluster's node.Config.EffectsAdmission (0:
	// its default, 50 %; negative: off).
	Admission int
	// NewEffectsSink, when set, replaces the built-in HTTP sink of
	// WorkloadLedgerEffects with another (a database, a log), from a
	// program outside the core module: its work must call apply with the
	// effect's payload (the created transfer) once the effect is applied,
	// so the run counts it; apply returns false for a transfer that is
	// not of this run.
	NewEffectsSink func(apply func(transfer []byte) bool) outbox.Sink
	// IOBackend forces the local replicas' io backend (default automatic).
	IOBackend cio.Backend
	// DialTimeout bounds the registration of each client session
	// (default 15 s).
	DialTimeout time.Duration
	// ClientsMax is the client sessions the local cluster's data files
	// hold (chronon format --clients-max); 0 means the preset's or
	// Clients, whichever is more.
	ClientsMax int

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

	// OnMeasure and OnMeasureEnd, when set, are called as the measured
	// phase starts and as it ends (to start and stop a CPU profile, say).
	OnMeasure, OnMeasureEnd func()
}

// Result is what a run measured. Durations are in microseconds, rates per
// second.
type Result struct {
	Workload string `json:"workload"`
	// Environment is where and when it ran.
	Environment Environment `json:"environment"`
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

	// Effects is set for WorkloadLedgerEffects.
	Effects *EffectsResult `json:"effects,omitempty"`
	// Checkpoints is set for a local cluster: what its replicas'
	// checkpoints wrote, from start to the end of the measured phase.
	Checkpoints *CheckpointResult `json:"checkpoints,omitempty"`
}

// CheckpointResult sums the checkpoints of a local cluster's replicas.
type CheckpointResult struct {
	// Checkpoints counts checkpoints over all replicas; BlocksWritten the
	// grid blocks they wrote (data, index, free set), BlocksShared the data
	// blocks they referenced again unchanged, BytesWritten the bytes.
	Checkpoints   uint64 `json:"checkpoints"`
	BlocksWritten uint64 `json:"blocks_written"`
	BlocksShared  uint64 `json:"blocks_shared"`
	BytesWritten  uint64 `json:"bytes_written"`
	// Prewritten counts blocks written ahead between checkpoints (part of
	// BlocksWritten), PrewriteUsed those checkpoints took.
	Prewritten   uint64 `json:"prewritten"`
	PrewriteUsed uint64 `json:"prewrite_used"`
	// JournalMaxMicros is the longest checkpoint's journal time (writes,
	// sync, superblock; not the snapshot) on any replica.
	JournalMaxMicros float64 `json:"journal_max_us"`
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
	case cfg.Workload != WorkloadKV && cfg.Workload != WorkloadLedger && cfg.Workload != WorkloadLedgerEffects && cfg.Workload != WorkloadLedgerLookup:
		return fmt.Errorf("workload %q: want kv, ledger, ledger-effects or ledger-lookup", cfg.Workload)
	case cfg.Workload == WorkloadLedgerLookup && len(cfg.Addresses) == 0:
		return errors.New("the ledger-lookup workload looks up a running cluster's transfers (--addresses)")
	case cfg.Workload == WorkloadLedgerEffects && len(cfg.Addresses) > 0:
		return errors.New("the ledger-effects workload needs a local cluster: its effects sink runs in this process")
	case cfg.Workload == WorkloadLedgerEffects && cfg.NewEffectsMachine == nil:
		return errors.New("the ledger-effects workload needs NewEffectsMachine")
	case cfg.SinkLatency < 0 || cfg.DrainTimeout < 0:
		return fmt.Errorf("sink latency %v, drain timeout %v: want >= 0", cfg.SinkLatency, cfg.DrainTimeout)
	case len(cfg.Addresses) == 0 && cfg.Replicas != 1 && cfg.Replicas != 3 && cfg.Replicas != 5:
		return fmt.Errorf("replicas %d: want 1, 3 or 5", cfg.Replicas)
	case len(cfg.Addresses) == 0 && cfg.NewStateMachine == nil && cfg.Workload != WorkloadLedgerEffects:
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
	if len(cfg.Addresses) == 0 && cfg.ClientsMax != 0 && cfg.Clients > cfg.ClientsMax {
		return fmt.Errorf("clients %d: the local cluster's data files would hold %d client sessions", cfg.Clients, cfg.ClientsMax)
	}
	if cfg.ClientsMax < 0 || cfg.ClientsMax > journal.ClientsLimit || (len(cfg.Addresses) > 0 && cfg.ClientsMax != 0) {
		return fmt.Errorf("clients max %d: 1 to %d, for a local cluster only", cfg.ClientsMax, journal.ClientsLimit)
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
		Environment: environment(),
	}
	ccfg := client.Config{Cluster: cfg.Cluster, Addresses: cfg.Addresses, MessageSizeMax: jcfg.MessageSizeMax, Logger: cfg.Logger}
	var local *cluster.Cluster

	var seed [16]byte
	_, _ = rand.Read(seed[:])
	if cfg.Seed == 0 {
		cfg.Seed = binary.LittleEndian.Uint64(seed[:])
	}
	run := binary.LittleEndian.Uint64(seed[8:]) | 1 // the high half of this run's transfer ids
	var sink *effectSink
	if cfg.Workload == WorkloadLedgerEffects {
		var err error
		if sink, err = newEffectSink(run, uint64(cfg.Transfers), cfg.SinkLatency); err != nil {
			return res, fmt.Errorf("bench: %w", err)
		}
		defer sink.close()
	}

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
		ccl := cluster.Config{
			Replicas:   cfg.Replicas,
			Dir:        dir,
			Preset:     cfg.Preset,
			Cluster:    wire.Uint128{Lo: 1},
			IOBackend:  cfg.IOBackend,
			ClientsMax: localClientsMax(cfg, cfg.Clients),
			NewStateMachine: func(*outbox.Emitter) statemachine.StateMachine {
				return cfg.NewStateMachine()
			},
			Logger: cfg.Logger,
		}
		if sink != nil {
			ocfg := cfg.Outbox
			ocfg.Cluster = ccl.Cluster
			target := []byte(sink.URL())
			ccl.Outbox = &ocfg
			ccl.Sink = &outbox.HTTPSink{Timeout: 5 * time.Second}
			if cfg.SinkBatch > 1 {
				ccl.Sink = &outbox.HTTPBatchSink{HTTPSink: outbox.HTTPSink{Timeout: 5 * time.Second}}
				ccl.EffectsBatchMax = cfg.SinkBatch
			}
			ccl.EffectsWorkers = cfg.SinkWorkers
			ccl.EffectsAdmission = cfg.Admission
			if cfg.NewEffectsSink != nil {
				ccl.Sink = cfg.NewEffectsSink(func(transfer []byte) bool {
					return len(transfer) == ledger.TransferSize && sink.apply(transfer) == http.StatusOK
				})
				ccl.EffectsBatchMax = max(cfg.SinkBatch, 1)
			}
			ccl.NewStateMachine = func(effects *outbox.Emitter) statemachine.StateMachine {
				return cfg.NewEffectsMachine(effects, target)
			}
		}
		c, err := cluster.Start(ccl)
		if err != nil {
			return res, fmt.Errorf("bench: %w", err)
		}
		local = c
		defer func() { _, _ = c.Stop() }()
		res.InProcess = true
		ccfg = c.ClientConfig()
	}
	res.Replicas = len(ccfg.Addresses)
	res.Addresses = ccfg.Addresses

	var w workload
	var lw *ledgerWorkload
	switch cfg.Workload {
	case WorkloadKV:
		w = &kvWorkload{keys: uint64(cfg.Keys), keySize: cfg.KeySize, valueSize: cfg.ValueSize,
			readRatio: cfg.ReadRatio, batch: cfg.Batch, seed: cfg.Seed}
	case WorkloadLedger, WorkloadLedgerEffects:
		lw = &ledgerWorkload{accounts: uint64(cfg.Accounts), hot: uint64(cfg.HotAccounts), batch: cfg.Batch,
			budget: uint64(cfg.Transfers), run: run, seed: cfg.Seed, effects: sink != nil}
		w = lw
	case WorkloadLedgerLookup:
		w = &ledgerLookupWorkload{count: uint64(cfg.Transfers), batch: cfg.Batch, seed: cfg.Seed}
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
		// A replica with no connection slot left refuses a new client
		// (client.ErrTooManyClients, at once); the timeout bounds the
		// wait for a cluster that does not answer at all.
		dialTimeout := cfg.DialTimeout
		if dialTimeout == 0 {
			dialTimeout = 15 * time.Second
		}
		dialCtx, cancel := context.WithTimeout(ctx, dialTimeout)
		var err error
		clients[i], err = client.Dial(dialCtx, ccfg)
		cancel()
		if err != nil {
			return res, fmt.Errorf("bench: client %d of %d (%d sessions registered): %w", i+1, cfg.Clients, i, err)
		}
	}
	if err := w.prepare(ctx, clients[0]); err != nil {
		return res, fmt.Errorf("bench: %w", err)
	}
	if sink == nil {
		return drive(ctx, cfg, w, clients, res, local)
	}

	// Ledger with effects: count the effects applied and the transfers
	// refused as outbox_full in the measured phase, then wait for the
	// effects still pending.
	var unique0, full0, unique1, full1, created1 int64
	onMeasure, onMeasureEnd := cfg.OnMeasure, cfg.OnMeasureEnd
	cfg.OnMeasure = func() {
		unique0, full0 = sink.unique.Load(), lw.outboxFull.Load()
		if onMeasure != nil {
			onMeasure()
		}
	}
	cfg.OnMeasureEnd = func() {
		unique1, full1, created1 = sink.unique.Load(), lw.outboxFull.Load(), lw.created.Load()
		if onMeasureEnd != nil {
			onMeasureEnd()
		}
	}
	res, err := drive(ctx, cfg, w, clients, res, local)
	drainTimeout := cfg.DrainTimeout
	if drainTimeout == 0 {
		drainTimeout = 60 * time.Second
	}
	created := lw.created.Load() // every call has returned: final
	e := &EffectsResult{
		SinkLatencyMicros: float64(cfg.SinkLatency) / 1e3,
		Delivered:         unique1 - unique0,
		OutboxFull:        full1 - full0,
		Created:           created,
		PendingAtEnd:      max(0, created1-unique1),
	}
	if res.ElapsedSeconds > 0 {
		e.DeliveredPerSecond = float64(e.Delivered) / res.ElapsedSeconds
	}
	if !res.Partial {
		before := sink.unique.Load()
		d := sink.drain(ctx, created, drainTimeout)
		e.DrainSeconds = d.Seconds()
		if drained := sink.unique.Load() - before; drained > 0 && d > 0 {
			e.DrainPerSecond = float64(drained) / d.Seconds()
		}
	}
	e.Applied = sink.unique.Load()
	e.Missing = created - e.Applied
	e.Posts, e.Redeliveries, e.Rejected = sink.posts.Load(), sink.duplicates.Load(), sink.rejected.Load()
	if e.Posts > 0 {
		e.RedeliveryRatio = float64(e.Redeliveries) / float64(e.Posts)
	}
	if local != nil {
		for i := range res.Replicas {
			if n := local.Node(i); n != nil {
				m := n.Metrics().Protocol
				e.AdmissionHeld += int64(m.AdmissionHeld)
				e.AdmissionExpired += int64(m.AdmissionExpired)
			}
		}
	}
	res.Effects = e
	return res, err
}

// drive runs the callers through the warm-up and the measured phase
// (Measure) and adds what was measured to res.
func drive(ctx context.Context, cfg Config, w workload, clients []*client.Client, res Result, local *cluster.Cluster) (Result, error) {
	mcfg := MeasureConfig{
		Clients: len(clients), Callers: cfg.Callers, Warmup: cfg.Warmup, Duration: cfg.Duration,
		Progress: cfg.Progress, Spent: w.spent,
		SpentNote: "stopped when the transfer budget (--transfers) was used up",
		OnMeasure: cfg.OnMeasure, OnMeasureEnd: cfg.OnMeasureEnd,
	}
	m, err := Measure(ctx, mcfg, func(ci, k int) CallFunc {
		c, cl := w.newCaller(ci*cfg.Callers+k), clients[ci]
		return func(ctx context.Context) (int, error) { return c.do(ctx, cl) }
	})
	res.ElapsedSeconds, res.Partial, res.Note = m.ElapsedSeconds, m.Partial, m.Note
	res.Requests, res.Events = m.Requests, m.Events
	res.RequestsPerSecond, res.EventsPerSecond = m.RequestsPerSecond, m.EventsPerSecond
	res.Latency = m.Latency
	res.CPUUserSeconds, res.CPUSysSeconds, res.PeakRSSBytes = m.CPUUserSeconds, m.CPUSysSeconds, m.PeakRSSBytes
	if local != nil {
		res.Checkpoints = checkpointsOf(local)
	}
	return res, err
}

// checkpointsOf sums what the checkpoints of c's running replicas wrote.
func checkpointsOf(c *cluster.Cluster) *CheckpointResult {
	var r CheckpointResult
	for i := range len(c.Addresses()) {
		n := c.Node(i)
		if n == nil {
			continue
		}
		m := n.Metrics()
		r.Checkpoints += m.WAL.Checkpoints
		r.BlocksWritten += m.WAL.CheckpointBlocksWritten
		r.BlocksShared += m.WAL.CheckpointBlocksShared
		r.BytesWritten += m.WAL.CheckpointBytesWritten
		r.Prewritten += m.WAL.CheckpointPrewritten
		r.PrewriteUsed += m.WAL.CheckpointPrewriteUsed
		r.JournalMaxMicros = max(r.JournalMaxMicros, float64(m.CheckpointMax.Microseconds()))
	}
	return &r
}

// localClientsMax is the client sessions of a local cluster that serves
// clients sessions at most: cfg.ClientsMax when set, else 0 (the preset's)
// when the preset holds that many, else clients.
func localClientsMax(cfg Config, clients int) uint32 {
	if cfg.ClientsMax > 0 {
		return uint32(cfg.ClientsMax)
	}
	jcfg, err := journal.Preset(cfg.Preset)
	if err != nil || clients <= int(jcfg.ClientsMax) {
		return 0 // Check refused an unknown preset before
	}
	return uint32(clients)
}
