package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/chronon-db/chronon/bench"
)

// report is a whole comparison.
type report struct {
	Date           time.Time   `json:"date"`
	Command        string      `json:"command"`
	Machine        machine     `json:"machine"`
	EtcdVersion    string      `json:"etcd_version"`
	ChrononVersion string      `json:"chronon_version"`
	Settings       settings    `json:"settings"`
	Runs           []runResult `json:"runs"`
	Ratios         []ratio     `json:"ratios"`
}

// runResult is one measurement of one system.
type runResult struct {
	Clients int `json:"clients"`
	Round   int `json:"round"`
	// Order is the measurement's place in the whole run, from 1.
	Order  int    `json:"order"`
	System string `json:"system"` // etcd or chronon
	// Connections are etcd's client connections (shared by the clients
	// when fewer), or Chronon's sessions (one per client).
	Connections int          `json:"connections"`
	Label       string       `json:"label"`
	Started     time.Time    `json:"started"`
	Error       string       `json:"error,omitempty"`
	Result      bench.Result `json:"result"`
	// WallSeconds is the whole run (connecting, warm-up, measured phase);
	// ServerCPUSeconds the CPU time (user + system) the system's three
	// server processes used in it.
	WallSeconds      float64 `json:"wall_s"`
	ServerCPUSeconds float64 `json:"server_cpu_s"`
}

// serverCores is the servers' CPU use over the whole run, in cores.
func (r *runResult) serverCores() float64 { return div(r.ServerCPUSeconds, r.WallSeconds) }

// clientCores is this process's (the load generator's) CPU use over the
// measured phase, in cores.
func (r *runResult) clientCores() float64 {
	return div(r.Result.CPUUserSeconds+r.Result.CPUSysSeconds, r.Result.ElapsedSeconds)
}

// ok reports whether r is a measurement to compare: no error, not
// interrupted, some puts.
func (r *runResult) ok() bool { return r.Error == "" && !r.Result.Partial && r.Result.Events > 0 }

// ratio compares Chronon with one etcd variant at one client count, from
// the means over the rounds in which each succeeded: Chronon's throughput
// over etcd's (above 1: Chronon puts more per second), and Chronon's
// latency percentiles over etcd's (below 1: Chronon is faster).
// A ratio is 0 when either side has no successful round.
type ratio struct {
	Clients    int     `json:"clients"`
	Versus     string  `json:"versus"`
	Rounds     int     `json:"rounds"` // rounds averaged, the fewer of both sides
	Throughput float64 `json:"throughput"`
	P50        float64 `json:"p50"`
	P99        float64 `json:"p99"`
}

// means of one system's successful rounds.
type means struct {
	n              int
	rate, p50, p99 float64
}

func meansOf(runs []runResult, clients int, lbl string) means {
	var m means
	for i := range runs {
		r := &runs[i]
		if r.Clients != clients || r.Label != lbl || !r.ok() {
			continue
		}
		m.n++
		m.rate += r.Result.EventsPerSecond
		m.p50 += r.Result.Latency.P50
		m.p99 += r.Result.Latency.P99
	}
	if m.n > 0 {
		m.rate /= float64(m.n)
		m.p50 /= float64(m.n)
		m.p99 /= float64(m.n)
	}
	return m
}

// ratios returns Chronon's ratios to each etcd variant at each client
// count, in the order the runs appear.
func ratios(runs []runResult) []ratio {
	var out []ratio
	seen := map[[2]string]bool{}
	for _, r := range runs {
		if r.System != systemEtcd {
			continue
		}
		k := [2]string{strconv.Itoa(r.Clients), r.Label}
		if seen[k] {
			continue
		}
		seen[k] = true
		e := meansOf(runs, r.Clients, r.Label)
		c := meansOf(runs, r.Clients, label(systemChronon, r.Clients, r.Clients))
		rt := ratio{Clients: r.Clients, Versus: r.Label, Rounds: min(e.n, c.n)}
		if e.n > 0 && c.n > 0 {
			rt.Throughput = div(c.rate, e.rate)
			rt.P50 = div(c.p50, e.p50)
			rt.P99 = div(c.p99, e.p99)
		}
		out = append(out, rt)
	}
	return out
}

func div(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// writeMarkdown writes the settings and a table per client count: every
// run in the order it ran, then Chronon's ratios to each etcd variant.
func (r *report) writeMarkdown(w io.Writer) {
	s := r.Settings
	fmt.Fprintf(w, "Chronon vs etcd, %s\n\n", r.Date.Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(w, "- command: `%s`\n", r.Command)
	fmt.Fprintf(w, "- machine: %d cores (%s), Linux %s, load average %s at the start, %s at the end\n",
		r.Machine.Cores, r.Machine.CPU, r.Machine.Kernel, r.Machine.LoadBefore, r.Machine.LoadAfter)
	fmt.Fprintf(w, "- servers: %s, 3 members on loopback; %s, 3 replicas on loopback (kv state machine, production preset, %d client sessions)\n",
		r.EtcdVersion, r.ChrononVersion, s.ChrononClientsMax)
	fmt.Fprintf(w, "- load: puts of %d-byte keys and %d-byte values, uniformly over %d keys, one put in flight per client; %v warm-up and %v measured per run, %d rounds alternating\n",
		s.KeySize, s.ValueSize, s.Keys, secs(s.WarmupS), secs(s.DurationS), s.Rounds)
	var clients []int
	seen := map[int]bool{}
	for _, run := range r.Runs {
		if !seen[run.Clients] {
			seen[run.Clients] = true
			clients = append(clients, run.Clients)
		}
	}
	for _, c := range clients {
		fmt.Fprintf(w, "\n### %d %s\n\n", c, plural(c, "client", "clients"))
		fmt.Fprintln(w, "| round | system | puts/s | p50 | p99 | p99.9 | max | cores: servers, load |")
		fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|")
		for _, run := range r.Runs {
			if run.Clients != c {
				continue
			}
			if run.Error != "" {
				fmt.Fprintf(w, "| %d | %s | failed: %s | | | | | |\n", run.Round, run.Label, cell(run.Error))
				continue
			}
			l := run.Result.Latency
			rate := fmtRate(run.Result.EventsPerSecond)
			if run.Result.Partial {
				rate += " (interrupted)"
			}
			fmt.Fprintf(w, "| %d | %s | %s | %s | %s | %s | %s | %.2f, %.2f |\n", run.Round, run.Label, rate,
				fmtLatency(l.P50), fmtLatency(l.P99), fmtLatency(l.P999), fmtLatency(l.Max), run.serverCores(), run.clientCores())
		}
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| Chronon ÷ | throughput | p50 | p99 |")
		fmt.Fprintln(w, "|---|---:|---:|---:|")
		for _, rt := range r.Ratios {
			if rt.Clients != c {
				continue
			}
			if rt.Rounds == 0 {
				fmt.Fprintf(w, "| %s | — | — | — |\n", rt.Versus)
				continue
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s |\n", rt.Versus, fmtRatio(rt.Throughput), fmtRatio(rt.P50), fmtRatio(rt.P99))
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Ratios are of the means over the rounds that succeeded: throughput above 1×, latency below 1× favour Chronon.")
	fmt.Fprintln(w, "Cores: the three servers' CPU time over the whole run (connecting, warm-up, measured phase) per second, and this process's (the load generator's) over the measured phase.")
}

// writeCSV writes one row per run.
func (r *report) writeCSV(w io.Writer) {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"clients", "round", "order", "system", "label", "connections", "puts_per_s",
		"p50_us", "p90_us", "p99_us", "p99_9_us", "max_us", "puts", "elapsed_s", "partial", "error",
		"wall_s", "server_cpu_s", "client_cpu_s"})
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	for _, run := range r.Runs {
		res := run.Result
		l := res.Latency
		_ = cw.Write([]string{strconv.Itoa(run.Clients), strconv.Itoa(run.Round), strconv.Itoa(run.Order), run.System,
			run.Label, strconv.Itoa(run.Connections), f(res.EventsPerSecond), f(l.P50), f(l.P90), f(l.P99), f(l.P999), f(l.Max),
			strconv.FormatInt(res.Events, 10), f(res.ElapsedSeconds), strconv.FormatBool(res.Partial), run.Error,
			f(run.WallSeconds), f(run.ServerCPUSeconds), f(res.CPUUserSeconds + res.CPUSysSeconds)})
	}
	cw.Flush()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// cell makes s fit in a markdown table cell.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// fmtRate formats a rate with thousands separators.
func fmtRate(v float64) string {
	s := strconv.FormatInt(int64(v+0.5), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// fmtLatency formats microseconds with three significant digits in ms
// (or µs below 1 ms).
func fmtLatency(us float64) string {
	switch {
	case us >= 100_000:
		return fmt.Sprintf("%.0f ms", us/1e3)
	case us >= 10_000:
		return fmt.Sprintf("%.1f ms", us/1e3)
	case us >= 1_000:
		return fmt.Sprintf("%.2f ms", us/1e3)
	default:
		return fmt.Sprintf("%.0f µs", us)
	}
}

// fmtRatio formats a ratio with two significant digits (three above 10).
func fmtRatio(v float64) string {
	if v >= 10 {
		return fmt.Sprintf("%.1f×", v)
	}
	return fmt.Sprintf("%.2f×", v)
}
