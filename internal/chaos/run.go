package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/chronon-db/chronon/client"
	"github.com/chronon-db/chronon/ledger"
	"github.com/chronon-db/chronon/wire"
)

// clusterID is the cluster id of the data files Run formats.
const clusterID = 0xc4a05

// accounts is the number of ledger accounts the load moves money between.
const accounts = 16

// ErrViolation is returned by Run when the report has violations.
var ErrViolation = errors.New("chaos: violations")

// run holds one Run's state.
type run struct {
	cfg     Config
	rng     *rand.Rand
	c       *cluster
	load    *workload
	rcv     *receiver
	sink    EffectsSink
	start   time.Time
	report  *Report
	msgSize uint32
	// aborted is set when a replica exited on its own: the run stops
	// injecting faults and only scans the logs.
	aborted bool
}

// Run formats and starts a cluster, runs the load, injects faults, then
// checks safety and convergence. It returns the report, and ErrViolation
// (wrapped) when it has violations; other errors mean the run could not be
// set up.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	r := &run{
		cfg:    cfg,
		rng:    rand.New(rand.NewPCG(cfg.Seed, 0x63686173)),
		load:   &workload{accounts: accounts, batch: cfg.Batch, pause: cfg.CallPause, failedResults: map[ledger.Result]int{}},
		report: &Report{Replicas: cfg.Replicas, Seed: cfg.Seed},
	}
	r.msgSize = wire.MessageSizeMaxTest
	if cfg.Preset == "production" {
		r.msgSize = wire.MessageSizeMaxProduction
	}
	defer func() { r.report.Elapsed = time.Since(r.start) }()
	if err := r.setUp(); err != nil {
		r.tearDown()
		return nil, err
	}
	err := r.exercise(ctx)
	r.tearDown()
	if err != nil {
		return r.report, err
	}
	if len(r.report.Violations) > 0 {
		return r.report, fmt.Errorf("%w: %d", ErrViolation, len(r.report.Violations))
	}
	return r.report, nil
}

func (r *run) violation(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	first, _, _ := strings.Cut(msg, "\n")
	r.cfg.Log.Error("chaos: violation", "what", first)
	r.report.Violations = append(r.report.Violations, msg)
}

func (r *run) setUp() error {
	addresses, err := FreeAddresses(r.cfg.Replicas)
	if err != nil {
		return err
	}
	files, err := FormatFiles(r.cfg.Binary, r.cfg.Dir, fmt.Sprintf("%#x", clusterID), r.cfg.Preset, r.cfg.Replicas)
	if err != nil {
		return err
	}
	r.c = &cluster{bin: r.cfg.Binary, addresses: addresses, files: files,
		procs: make([]*Process, r.cfg.Replicas), logs: make([][]*SyncBuffer, r.cfg.Replicas), killed: map[*Process]bool{}}
	if r.cfg.Effects {
		r.sink = r.cfg.Sink
		if r.sink == nil {
			if r.rcv, err = openReceiver(filepath.Join(r.cfg.Dir, "receiver")); err != nil {
				return err
			}
			r.sink = r.rcv
		}
		r.report.Sink = r.sink.String()
		r.c.extra = append(r.c.extra, "--effects-sink="+r.sink.URL(), fmt.Sprintf("--effects-batch=%d", max(r.sink.Batch(), 1)))
	}
	for i := range files {
		if err := r.c.start(i); err != nil {
			return err
		}
	}
	return nil
}

func (r *run) tearDown() {
	if r.c != nil {
		for _, p := range r.c.procs {
			if p != nil {
				_ = p.Signal(syscall.SIGCONT)
				p.Kill()
			}
		}
	}
	if r.rcv != nil {
		r.rcv.close()
	}
}

func (r *run) dial(ctx context.Context) (*client.Client, error) {
	return client.Dial(ctx, client.Config{Cluster: wire.Uint128{Lo: clusterID}, Addresses: strings.Split(r.c.addresses, ","),
		MessageSizeMax: r.msgSize, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

// exercise runs the load and the faults, then the checks.
func (r *run) exercise(ctx context.Context) error {
	log := r.cfg.Log
	dctx, cancel := context.WithTimeout(ctx, r.cfg.Deadline)
	defer cancel()
	admin, err := r.dial(dctx)
	if err != nil {
		return fmt.Errorf("chaos: dial: %w", err)
	}
	defer admin.Close()
	batch := make([]ledger.Account, accounts)
	for i := range batch {
		batch[i] = ledger.Account{ID: wire.Uint128{Lo: uint64(i + 1)}, Ledger: 1, Code: 1}
	}
	if failed, err := admin.CreateAccounts(dctx, batch); err != nil || len(failed) != 0 {
		return fmt.Errorf("chaos: create accounts: %v %w", failed, err)
	}
	clients := make([]*client.Client, r.cfg.Clients)
	for i := range clients {
		if clients[i], err = r.dial(dctx); err != nil {
			return fmt.Errorf("chaos: dial: %w", err)
		}
	}
	lctx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() { r.load.run(lctx, c) })
	}
	stopAndClose := func() {
		stopLoad()
		wg.Wait()
		for _, c := range clients {
			c.Close()
		}
	}
	r.start = time.Now()
	log.Info("chaos: load started", "replicas", r.cfg.Replicas, "faults", r.cfg.Faults, "duration", r.cfg.Duration, "rounds", r.cfg.Rounds)
	r.faults(ctx)
	if r.aborted {
		stopAndClose()
		r.panicScan()
		return nil
	}
	// A call made after the last fault must be acknowledged: the cluster
	// serves again.
	end := time.Now()
	if why := waitFor(r.cfg.Deadline, func() string {
		if _, ok := r.load.firstAckAfter(end); !ok {
			return "no acknowledged call after the faults"
		}
		return ""
	}); why != "" {
		r.violation("after the faults: %s", why)
	}
	stopAndClose()
	for _, e := range r.load.errs {
		r.violation("client call failed: %v", e)
	}
	log.Info("chaos: load stopped", "calls", r.load.ackCount())
	if ctx.Err() != nil {
		return ctx.Err()
	}
	r.check(admin)
	return nil
}

// faults injects faults until the duration or the rounds are done.
func (r *run) faults(ctx context.Context) {
	for i := 0; ctx.Err() == nil && !r.aborted; i++ {
		if r.cfg.Rounds > 0 && i >= r.cfg.Rounds || r.cfg.Rounds == 0 && time.Since(r.start) >= r.cfg.Duration {
			return
		}
		if len(r.cfg.Faults) == 0 {
			time.Sleep(min(time.Second, r.cfg.Duration-time.Since(r.start)))
			r.checkUnexpectedExits()
			continue
		}
		if _, ok := r.waitHealthy(); !ok {
			return
		}
		kind := r.cfg.Faults[i%len(r.cfg.Faults)]
		if r.cfg.Rounds == 0 {
			kind = r.cfg.Faults[r.rng.IntN(len(r.cfg.Faults))]
		}
		time.Sleep(r.between(r.cfg.Calm/2, r.cfg.Calm))
		// Healthy again right before the fault (a view change may have
		// happened in the calm), and who the primary is now.
		primary, ok := r.waitHealthy()
		if !ok {
			return
		}
		r.inject(kind, primary)
	}
}

// between draws a duration in [lo, hi] from the schedule's PRNG.
func (r *run) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(r.rng.Int64N(int64(hi-lo)+1))
}

// waitHealthy waits until the cluster is healthy and returns its primary;
// false if it does not get there before the deadline (a violation).
func (r *run) waitHealthy() (primary int, ok bool) {
	why := waitFor(r.cfg.Deadline, func() string {
		r.checkUnexpectedExits()
		if r.aborted {
			return "" // reported already; stop waiting
		}
		var why string
		primary, why = r.c.healthy()
		return why
	})
	if r.aborted {
		return -1, false
	}
	if why != "" {
		r.violation("cluster not healthy %v after the last fault: %s", r.cfg.Deadline, why)
		return -1, false
	}
	return primary, true
}

// checkUnexpectedExits reports and restarts replicas that exited on their
// own.
func (r *run) checkUnexpectedExits() {
	for i, p := range r.c.procs {
		select {
		case <-p.done:
		default:
			continue
		}
		if r.c.killed[p] {
			continue
		}
		// Not restarted: a replica that crashes once would most likely
		// crash again; the panic scan reports why.
		r.violation("replica %d exited on its own: %v", i, p.err)
		r.c.killed[p] = true
		r.aborted = true
	}
}

// inject runs one fault and records its no-ack window.
func (r *run) inject(kind Fault, primary int) {
	n := r.cfg.Replicas
	var victims []int
	switch kind {
	case KillPrimary, PausePrimary:
		victims = []int{primary}
	case KillBackup:
		b := r.rng.IntN(n - 1)
		if b >= primary {
			b++
		}
		victims = []int{b}
	case KillTwo:
		perm := r.rng.Perm(n)
		victims = perm[:2]
	}
	t0 := time.Now()
	res := FaultResult{Kind: kind, Victims: victims, At: t0.Sub(r.start)}
	r.cfg.Log.Info("chaos: fault", "kind", kind, "replicas", victims, "at", res.At.Round(time.Millisecond))
	if kind == PausePrimary {
		if err := r.c.signal(primary, syscall.SIGSTOP); err != nil {
			r.violation("%v", err)
			return
		}
		time.Sleep(r.cfg.PauseFor)
		if err := r.c.signal(primary, syscall.SIGCONT); err != nil {
			r.violation("%v", err)
		}
	} else {
		r.c.kill(victims...)
		down := r.between(r.cfg.DownFor/4, r.cfg.DownFor)
		if n-len(victims) >= n/2+1 {
			// A quorum is left: measure the window with the victims down.
			r.waitAck(t0)
		}
		time.Sleep(down)
		for _, v := range victims {
			if err := r.c.start(v); err != nil {
				r.violation("restart replica %d: %v", v, err)
			}
		}
	}
	if at, ok := r.waitAck(t0); ok {
		res.Window = at.Sub(t0)
	}
	r.cfg.Log.Info("chaos: acknowledged again", "kind", kind, "window", res.Window.Round(time.Millisecond))
	r.report.Faults = append(r.report.Faults, res)
}

// waitAck waits for the first acknowledgement of a call made after t0.
func (r *run) waitAck(t0 time.Time) (time.Time, bool) {
	var at time.Time
	why := waitFor(r.cfg.Deadline, func() string {
		var ok bool
		if at, ok = r.load.firstAckAfter(t0); ok {
			return ""
		}
		return "no acknowledged call"
	})
	if why != "" {
		r.violation("no acknowledged call within %v of a fault at %v", r.cfg.Deadline, t0.Sub(r.start).Round(time.Millisecond))
		return time.Time{}, false
	}
	return at, true
}
