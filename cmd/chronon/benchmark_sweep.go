package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/chronon-db/chronon/bench"
)

const benchmarkSweepUsage = `
A sweep (--sweep-clients and/or --sweep-batch) runs one benchmark per pair
of a batch size and a client count, batch by batch, against one cluster
started once (or the running one of --addresses), with --sweep-pause
between points; each point has the --warmup and --duration above. A point
that fails is recorded with its error and the sweep goes on. After every
point it rewrites, in --out: sweep-<workload>.csv (a row per point),
sweep-<workload>.json (the JSON result of every point) and
sweep-<workload>.svg (p50 and p99 latency against events/s, a line per
batch size, points labelled with their client count). With --json it
prints the JSON array on stdout and the per-point lines on stderr. A
ledger sweep splits --transfers evenly between its points.
`

// sweepOptions are the sweep flags of `chronon benchmark`.
type sweepOptions struct {
	clients, batches []int
	pause            time.Duration
	out              string
}

// on reports whether the flags ask for a sweep.
func (s *sweepOptions) on() bool { return len(s.clients) > 0 || len(s.batches) > 0 }

// register adds the sweep flags to fs.
func (s *sweepOptions) register(fs *flag.FlagSet) {
	fs.Func("sweep-clients", "sweep: client counts, comma-separated (e.g. 1,4,16,64); replaces --clients", func(v string) (err error) {
		s.clients, err = bench.ParseCounts(v)
		return err
	})
	fs.Func("sweep-batch", "sweep: batch sizes (events per call), comma-separated (e.g. 1,16,128); replaces --batch", func(v string) (err error) {
		s.batches, err = bench.ParseCounts(v)
		return err
	})
	fs.DurationVar(&s.pause, "sweep-pause", time.Second, "sweep: idle time between points")
	fs.StringVar(&s.out, "out", "", "sweep: directory for the CSV, JSON and SVG files (created if missing; required with a sweep)")
}

// resolve checks the sweep flags against the others (set: the flags
// given) and fills the dimension not swept from --clients or --batch.
func (s *sweepOptions) resolve(cfg *bench.Config, set map[string]bool) error {
	if !s.on() {
		if set["out"] || set["sweep-pause"] {
			return errors.New("--out and --sweep-pause are for a sweep (--sweep-clients, --sweep-batch)")
		}
		return nil
	}
	switch {
	case len(s.clients) > 0 && set["clients"]:
		return errors.New("--clients and --sweep-clients: give one")
	case len(s.batches) > 0 && set["batch"]:
		return errors.New("--batch and --sweep-batch: give one")
	case s.out == "":
		return errors.New("a sweep needs --out=DIR for its CSV, JSON and SVG files")
	}
	if len(s.clients) == 0 {
		s.clients = []int{cfg.Clients}
	}
	if len(s.batches) == 0 {
		s.batches = []int{cfg.Batch}
	}
	return nil
}

// config returns the sweep of base.
func (s *sweepOptions) config(base bench.Config) bench.SweepConfig {
	return bench.SweepConfig{Base: base, Clients: s.clients, Batches: s.batches, Pause: s.pause}
}

// sweepFiles are the paths a sweep writes.
type sweepFiles struct{ csv, json, svg string }

func newSweepFiles(dir, workload string) sweepFiles {
	base := filepath.Join(dir, "sweep-"+workload)
	return sweepFiles{csv: base + ".csv", json: base + ".json", svg: base + ".svg"}
}

// write writes the three files for points, each through a temporary file
// renamed into place, so a reader never sees half a file.
func (f sweepFiles) write(points []bench.SweepPoint, note string) error {
	for _, out := range []struct {
		path  string
		write func(io.Writer) error
	}{
		{f.csv, func(w io.Writer) error { return bench.WriteSweepCSV(w, points) }},
		{f.json, func(w io.Writer) error { return bench.WriteSweepJSON(w, points) }},
		{f.svg, func(w io.Writer) error { return bench.WriteSweepSVG(w, points, note) }},
	} {
		var b bytes.Buffer
		if err := out.write(&b); err != nil {
			return fmt.Errorf("%s: %w", out.path, err)
		}
		tmp := out.path + ".tmp"
		if err := os.WriteFile(tmp, b.Bytes(), 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, out.path); err != nil {
			return err
		}
	}
	return nil
}

// sweepNote describes the run for the plot: the date, the cores, the load
// average as the sweep starts (the benchmark shares the machine) and each
// point's phases.
func sweepNote(now time.Time, cfg bench.Config) string {
	note := fmt.Sprintf("%s, %d cores", now.UTC().Format("2006-01-02"), runtime.NumCPU())
	if l := bench.LoadAverage(); l != "" {
		note += ", load average " + l + " at start"
	}
	return note + fmt.Sprintf("; %v + %v per point", cfg.Warmup, cfg.Duration)
}

// runSweep runs the sweep of o and writes its files; the exit code is 1
// when a point failed or a file could not be written, 130 when
// interrupted.
func runSweep(o benchmarkOptions, stdout, stderr io.Writer) int {
	if f, ok := stdout.(*os.File); ok && isTerminal(f) {
		o.cfg.Progress = stdout
	}
	// The first Ctrl-C ends the point in progress and the sweep, which
	// writes what it measured; a second one ends the process.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); stop() }()
	sc := o.sweep.config(o.cfg)
	if err := os.MkdirAll(o.sweep.out, 0o755); err != nil {
		fmt.Fprintf(stderr, "chronon benchmark: %v\n", err)
		return 1
	}
	files := newSweepFiles(o.sweep.out, o.cfg.Workload)
	note := sweepNote(time.Now(), o.cfg)
	log := stdout
	if o.json {
		log = stderr // stdout holds only the JSON array
	}
	if !o.json {
		printVersion(stdout)
	}
	fmt.Fprintf(log, "sweep: %d points (clients %v x batch %v); %s\n", len(sc.Points()), sc.Clients, sc.Batches, note)
	var writeErr error
	sc.OnPoint = func(i, n int, points []bench.SweepPoint) {
		p := points[i]
		status := fmt.Sprintf("%.0f requests/s, %.0f events/s, p50 %v, p99 %v",
			p.RequestsPerSecond, p.EventsPerSecond, fmtUs(p.Latency.P50), fmtUs(p.Latency.P99))
		if p.Error != "" {
			status = "failed: " + p.Error
		}
		fmt.Fprintf(log, "[%d/%d] clients %d, batch %d: %s\n", i+1, n, p.Clients, p.Batch, status)
		if err := files.write(points, note); err != nil && writeErr == nil {
			writeErr = err
			fmt.Fprintf(stderr, "chronon benchmark: %v\n", err)
		}
	}
	points, err := bench.Sweep(ctx, sc)
	if err != nil && len(points) == 0 {
		fmt.Fprintf(stderr, "chronon benchmark: %v\n", err)
		if ctx.Err() != nil {
			return 130
		}
		return 1
	}
	if o.json {
		if err := bench.WriteSweepJSON(stdout, points); err != nil {
			fmt.Fprintf(stderr, "chronon benchmark: %v\n", err)
			return 1
		}
	} else {
		if err := bench.WriteSweepText(stdout, points); err != nil {
			return 1
		}
		if l := bench.LoadAverage(); l != "" {
			fmt.Fprintf(stdout, "load average at the end: %s\n", l)
		}
		fmt.Fprintf(stdout, "wrote %s, %s, %s\n", files.csv, files.json, files.svg)
	}
	failed := 0
	for _, p := range points {
		if p.Error != "" {
			failed++
		}
	}
	switch {
	case ctx.Err() != nil:
		fmt.Fprintf(stderr, "chronon benchmark: sweep interrupted after %d of %d points\n", len(points), len(sc.Points()))
		return 130
	case writeErr != nil:
		return 1
	case failed > 0:
		fmt.Fprintf(stderr, "chronon benchmark: %d of %d points failed\n", failed, len(points))
		return 1
	}
	return 0
}

// fmtUs formats microseconds as a duration with three significant digits.
func fmtUs(v float64) time.Duration {
	d := time.Duration(v * 1e3)
	switch {
	case d >= 100*time.Millisecond:
		return d.Round(time.Millisecond)
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}
