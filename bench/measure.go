package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// CallFunc makes one call of a closed-loop load and returns its number of
// events (records, transfers). A CallFunc is used by one caller goroutine
// only. Returning ErrBudget ends its caller without failing the run.
type CallFunc func(ctx context.Context) (events int, err error)

// ErrBudget, returned by a CallFunc, ends its caller because the workload
// has used up its events (the ledger's transfer capacity); it is not a
// failure.
var ErrBudget = errBudget

// MeasureConfig is one closed-loop measurement: Clients × Callers
// callers, each with one call in flight, through a warm-up and a measured
// phase.
type MeasureConfig struct {
	// Clients and Callers (per client) give the callers; the latencies of
	// one client's callers share a histogram.
	Clients, Callers int
	// Warmup runs the load unmeasured; Duration is the measured phase.
	Warmup, Duration time.Duration
	// Progress, when set, receives a progress line once per second,
	// rewritten in place with a carriage return and cleared at the end.
	Progress io.Writer
	// Spent, when set, returns the fraction of the event budget used so far:
	// the warm-up ends at a quarter of it. SpentNote is the result's Note
	// when the callers ended because the whole budget was used.
	Spent     func() float64
	SpentNote string
	// OnMeasure and OnMeasureEnd, when set, are called as the measured
	// phase starts and as it ends (to start and stop a CPU profile, or to
	// read counters, say).
	OnMeasure, OnMeasureEnd func()
}

// Check returns an error for a MeasureConfig that cannot run.
func (cfg *MeasureConfig) Check() error {
	switch {
	case cfg.Clients < 1 || cfg.Callers < 1:
		return fmt.Errorf("clients %d, callers %d: each must be at least 1", cfg.Clients, cfg.Callers)
	case cfg.Warmup < 0 || cfg.Duration <= 0:
		return fmt.Errorf("warmup %v, duration %v: want warmup >= 0 and duration > 0", cfg.Warmup, cfg.Duration)
	}
	return nil
}

// Phases of a run.
const (
	phaseWarmup int32 = iota
	phaseMeasure
	phaseDone
)

// Measure runs the closed-loop load of newCall(client, caller) for every
// client and caller: a warm-up, then the measured phase, in which it
// counts completed calls and their events and records each call's latency
// in an HDR histogram, and takes this process's CPU time and peak RSS.
// This is how `chronon benchmark` measures Chronon, so a peer measured
// with it is measured the same way.
//
// The run ends early on the first failed call (Measure returns what was
// measured with that error), when every caller has ended, or when ctx
// ends (Partial set, no error). Calls in flight at the end are not counted;
// they get 10 seconds to finish before their context is cancelled (at
// once on a failure or an interrupt).
//
// The result holds Clients, Callers, the phases' lengths and what was
// measured; the fields that describe the target are left for the caller.
func Measure(ctx context.Context, cfg MeasureConfig, newCall func(client, caller int) CallFunc) (Result, error) {
	res := Result{Clients: cfg.Clients, Callers: cfg.Callers,
		WarmupSeconds: cfg.Warmup.Seconds(), DurationSeconds: cfg.Duration.Seconds()}
	if err := cfg.Check(); err != nil {
		return res, fmt.Errorf("bench: %w", err)
	}
	spent := cfg.Spent
	if spent == nil {
		spent = func() float64 { return 0 }
	}
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
	hists := make([]*latencies, cfg.Clients)
	counts := make([]struct {
		requests, events int64
		_                [48]byte // one cache line each
	}, cfg.Clients*cfg.Callers)
	for ci := range cfg.Clients {
		hists[ci] = newLatencies()
		for k := range cfg.Callers {
			slot := ci*cfg.Callers + k
			call := newCall(ci, k)
			hist := hists[ci]
			wg.Add(1)
			go func() {
				defer wg.Done()
				for phase.Load() != phaseDone {
					t0 := time.Now()
					n, err := call(loadCtx)
					d := time.Since(t0)
					if err != nil {
						if loadCtx.Err() == nil && !errors.Is(err, ErrBudget) {
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
			if spent() >= 0.25 {
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
	if cfg.OnMeasure != nil {
		cfg.OnMeasure()
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
				if spent() >= 1 {
					res.Note = cfg.SpentNote
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
	if cfg.OnMeasureEnd != nil {
		cfg.OnMeasureEnd()
	}
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
