package bench

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chronon-db/chronon/cluster"
	"github.com/chronon-db/chronon/internal/svgplot"
	"github.com/chronon-db/chronon/outbox"
	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// SweepConfig is a sweep: one run of Base for each pair of a batch size
// and a client count, against one cluster (started once when Base has no
// Addresses).
type SweepConfig struct {
	// Base is every point's run; each point sets its Clients and Batch.
	// A ledger sweep splits Base.Transfers evenly between the points, as
	// they share one ledger.
	Base Config
	// Clients and Batches are the client counts and batch sizes; the
	// points run batch by batch, each with every client count, in the
	// order given.
	Clients, Batches []int
	// Pause is the idle time between two points. On a local cluster the
	// sweep also waits (up to 10 s) for every replica to commit every op
	// before the next point.
	Pause time.Duration
	// OnPoint, when set, is called after each point with its index, the
	// number of points and every point so far.
	OnPoint func(i, n int, points []SweepPoint)
}

// SweepPoint is one point of a sweep: its run's Result, and the error
// that ended the run, if one did (the Result then holds what was measured
// before it).
type SweepPoint struct {
	Result
	Error string `json:"error,omitempty"`
}

// Points returns the sweep's (clients, batch) pairs in the order they run.
func (sc *SweepConfig) Points() [][2]int {
	var ps [][2]int
	for _, b := range sc.Batches {
		for _, c := range sc.Clients {
			ps = append(ps, [2]int{c, b})
		}
	}
	return ps
}

// pointConfig returns the run of point (clients, batch) of n.
func (sc *SweepConfig) pointConfig(clients, batch, n int) Config {
	cfg := sc.Base
	cfg.Clients, cfg.Batch = clients, batch
	if cfg.Workload == WorkloadLedger && n > 0 {
		cfg.Transfers = sc.Base.Transfers / n
	}
	return cfg
}

// Check returns an error for a sweep that cannot run: no points, a
// repeated or non-positive value, or a point whose run fails Config.Check.
func (sc *SweepConfig) Check() error {
	for _, l := range []struct {
		name string
		vs   []int
	}{{"client counts", sc.Clients}, {"batch sizes", sc.Batches}} {
		if len(l.vs) == 0 {
			return fmt.Errorf("sweep: no %s", l.name)
		}
		seen := map[int]bool{}
		for _, v := range l.vs {
			if v < 1 || seen[v] {
				return fmt.Errorf("sweep: %s %v: want distinct values of at least 1", l.name, l.vs)
			}
			seen[v] = true
		}
	}
	if sc.Pause < 0 {
		return fmt.Errorf("sweep: pause %v", sc.Pause)
	}
	if sc.Base.Workload == WorkloadLedgerEffects {
		return fmt.Errorf("sweep: the %s workload runs alone, not in sweeps (its effects sink and drain belong to one run)", WorkloadLedgerEffects)
	}
	ps := sc.Points()
	for _, p := range ps {
		cfg := sc.pointConfig(p[0], p[1], len(ps))
		if err := cfg.Check(); err != nil {
			return fmt.Errorf("sweep: point of %d clients, batch %d: %w", p[0], p[1], err)
		}
		if len(cfg.Addresses) == 0 {
			// The points run against the sweep's local cluster by its
			// addresses, as against a running cluster.
			cfg.Addresses, cfg.Cluster, cfg.ClientsMax = []string{"127.0.0.1:1"}, wire.Uint128{Lo: 1}, 0
			if err := cfg.Check(); err != nil {
				return fmt.Errorf("sweep: point of %d clients, batch %d: %w", p[0], p[1], err)
			}
		}
	}
	return nil
}

// Sweep runs every point of sc in order, against one cluster: a point that
// fails is recorded with its error and the sweep goes on. When ctx ends,
// the point in progress is recorded (Partial) and Sweep returns the points
// so far with ctx's error.
func Sweep(ctx context.Context, sc SweepConfig) ([]SweepPoint, error) {
	if err := sc.Check(); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	ps := sc.Points()
	var waitCaughtUp func()
	inProcess := len(sc.Base.Addresses) == 0
	if inProcess {
		// Every point runs against this cluster by its addresses, as
		// against a running one.
		c, stop, err := startSweepCluster(sc.Base, localClientsMax(sc.Base, slices.Max(sc.Clients)))
		if err != nil {
			return nil, err
		}
		defer stop()
		ccfg := c.ClientConfig()
		sc.Base.Addresses, sc.Base.Cluster, sc.Base.ClientsMax = ccfg.Addresses, ccfg.Cluster, 0
		waitCaughtUp = func() { _ = c.WaitCaughtUp(10 * time.Second) }
	}
	// A point that outlasts limit is cut off (a cluster that stopped
	// answering must not hold the sweep forever).
	limit := sc.Base.Warmup + sc.Base.Duration + time.Minute
	points := make([]SweepPoint, 0, len(ps))
	for i, p := range ps {
		if i > 0 {
			if waitCaughtUp != nil {
				waitCaughtUp()
			}
			t := time.NewTimer(sc.Pause)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return points, ctx.Err()
			}
		}
		cfg := sc.pointConfig(p[0], p[1], len(ps))
		pctx, cancel := context.WithTimeout(ctx, limit)
		res, err := Run(pctx, cfg)
		timedOut := pctx.Err() != nil && ctx.Err() == nil
		cancel()
		if res.Workload == "" {
			res.Workload, res.Clients, res.Callers, res.Batch = cfg.Workload, cfg.Clients, cfg.Callers, cfg.Batch
		}
		res.InProcess = inProcess
		pt := SweepPoint{Result: res}
		switch {
		case err != nil:
			pt.Error = err.Error()
		case timedOut:
			pt.Error = fmt.Sprintf("bench: the point did not end within %v", limit)
		}
		points = append(points, pt)
		if sc.OnPoint != nil {
			sc.OnPoint(i, len(ps), points)
		}
		if ctx.Err() != nil {
			return points, ctx.Err()
		}
	}
	return points, nil
}

// startSweepCluster starts cfg's local cluster with clientsMax client
// sessions (0: the preset's), in cfg.Dir or a temporary directory; stop
// stops it and removes the temporary directory.
func startSweepCluster(cfg Config, clientsMax uint32) (c *cluster.Cluster, stop func(), err error) {
	dir := cfg.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "chronon-benchmark-"); err != nil {
			return nil, nil, fmt.Errorf("bench: %w", err)
		}
	}
	removeTmp := func() {
		if cfg.Dir == "" {
			_ = os.RemoveAll(dir)
		}
	}
	c, err = cluster.Start(cluster.Config{
		Replicas:   cfg.Replicas,
		Dir:        dir,
		Preset:     cfg.Preset,
		IOBackend:  cfg.IOBackend,
		ClientsMax: clientsMax,
		NewStateMachine: func(*outbox.Emitter) statemachine.StateMachine {
			return cfg.NewStateMachine()
		},
		Logger: cfg.Logger,
	})
	if err != nil {
		removeTmp()
		return nil, nil, fmt.Errorf("bench: %w", err)
	}
	return c, func() { _, _ = c.Stop(); removeTmp() }, nil
}

// sweepColumns are the CSV header; latencies in microseconds, note as in
// Result.Note (why a point's measured phase ended early).
var sweepColumns = []string{"workload", "replicas", "clients", "callers", "batch", "elapsed_s", "requests", "events",
	"requests_per_s", "events_per_s", "p50_us", "p90_us", "p99_us", "p99_9_us", "max_us", "cpu_s", "cpu_cores", "note", "error"}

// WriteSweepCSV writes one row per point under a header line.
func WriteSweepCSV(w io.Writer, points []SweepPoint) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(sweepColumns); err != nil {
		return err
	}
	f := func(v float64, prec int) string { return strconv.FormatFloat(v, 'f', prec, 64) }
	for _, p := range points {
		cpu := p.CPUUserSeconds + p.CPUSysSeconds
		cores := 0.0
		if p.ElapsedSeconds > 0 {
			cores = cpu / p.ElapsedSeconds
		}
		l := p.Latency
		row := []string{p.Workload, strconv.Itoa(p.Replicas), strconv.Itoa(p.Clients), strconv.Itoa(p.Callers),
			strconv.Itoa(p.Batch), f(p.ElapsedSeconds, 3), strconv.FormatInt(p.Requests, 10), strconv.FormatInt(p.Events, 10),
			f(p.RequestsPerSecond, 1), f(p.EventsPerSecond, 1),
			f(l.P50, 1), f(l.P90, 1), f(l.P99, 1), f(l.P999, 1), f(l.Max, 1), f(cpu, 3), f(cores, 2), p.Note, p.Error}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteSweepJSON writes the points as one indented JSON array.
func WriteSweepJSON(w io.Writer, points []SweepPoint) error {
	if points == nil {
		points = []SweepPoint{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(points)
}

// SweepChart returns the latency-against-throughput chart of a sweep: per
// batch size, a line of p50 and a dashed line of p99 latency over events
// per second, each point labelled with its client count. Failed points
// are left out. note, when set, ends the subtitle (machine, date).
func SweepChart(points []SweepPoint, note string) svgplot.Chart {
	var batches []int
	for _, p := range points {
		if !slices.Contains(batches, p.Batch) {
			batches = append(batches, p.Batch)
		}
	}
	c := svgplot.Chart{
		XLabel: "throughput (events/s, log scale)", YLabel: "latency per call (ms, log scale)",
		LogX: true, LogY: true,
	}
	var first *Result
	for i, b := range batches {
		var p50, p99 []svgplot.Point
		for k := range points {
			p := &points[k]
			if p.Batch != b || p.Error != "" || p.Requests == 0 {
				continue
			}
			if first == nil {
				first = &p.Result
			}
			label := strconv.Itoa(p.Clients)
			p50 = append(p50, svgplot.Point{X: p.EventsPerSecond, Y: p.Latency.P50 / 1e3, Label: label})
			p99 = append(p99, svgplot.Point{X: p.EventsPerSecond, Y: p.Latency.P99 / 1e3, Label: label})
		}
		color := svgplot.Palette(i)
		c.Series = append(c.Series,
			svgplot.Series{Name: fmt.Sprintf("batch %d: p50", b), Points: p50, Color: color},
			svgplot.Series{Name: fmt.Sprintf("batch %d: p99", b), Points: p99, Color: color, Dashed: true})
	}
	c.Title = "Chronon: latency against throughput"
	sub := []string{"labels: client sessions"}
	if first != nil {
		target := fmt.Sprintf("%d replicas", first.Replicas)
		if first.InProcess {
			target += " in-process, " + first.Preset + " preset"
		}
		c.Title = fmt.Sprintf("Chronon %s: latency against throughput, %s", first.Workload, target)
		callers := fmt.Sprintf("%d callers per client", first.Callers)
		if first.Callers == 1 {
			callers = "1 caller per client"
		}
		sub = append(sub, callers)
	}
	if note != "" {
		sub = append(sub, note)
	}
	c.Subtitle = strings.Join(sub, "; ")
	return c
}

// WriteSweepSVG writes SweepChart(points, note) as SVG.
func WriteSweepSVG(w io.Writer, points []SweepPoint, note string) error {
	return svgplot.Lines(w, SweepChart(points, note))
}

// WriteSweepText writes the points as a table for people.
func WriteSweepText(w io.Writer, points []SweepPoint) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%7s %5s %9s %12s %12s %9s %9s %9s %9s %9s %6s\n",
		"clients", "batch", "requests", "requests/s", "events/s", "p50", "p90", "p99", "p99.9", "max", "cores")
	for _, p := range points {
		if p.Error != "" && p.Requests == 0 {
			fmt.Fprintf(&b, "%7d %5d failed: %s\n", p.Clients, p.Batch, p.Error)
			continue
		}
		cores := 0.0
		if p.ElapsedSeconds > 0 {
			cores = (p.CPUUserSeconds + p.CPUSysSeconds) / p.ElapsedSeconds
		}
		l := p.Latency
		fmt.Fprintf(&b, "%7d %5d %9d %12.0f %12.0f %9s %9s %9s %9s %9s %6.2f", p.Clients, p.Batch, p.Requests,
			p.RequestsPerSecond, p.EventsPerSecond, us(l.P50), us(l.P90), us(l.P99), us(l.P999), us(l.Max), cores)
		if p.Error != "" {
			fmt.Fprintf(&b, "  (failed: %s)", p.Error)
		} else if p.Note != "" {
			fmt.Fprintf(&b, "  (%s)", p.Note)
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// ParseCounts parses a list of counts such as "1,4,16" (client counts,
// batch sizes): comma-separated positive integers, none repeated.
func ParseCounts(v string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("%q: want comma-separated integers", v)
		}
		if n < 1 {
			return nil, fmt.Errorf("%q: %d is below 1", v, n)
		}
		if slices.Contains(out, n) {
			return nil, fmt.Errorf("%q: %d is repeated", v, n)
		}
		out = append(out, n)
	}
	return out, nil
}
