package bench

import (
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"
)

// progress writes a live line once per second: the phase, its elapsed
// time, and the request and event rates over the last second.
type progress struct {
	w                    io.Writer
	requests, events     *atomic.Int64
	last                 time.Time
	lastReqs, lastEvents int64
	written              bool
}

func newProgress(w io.Writer, requests, events *atomic.Int64) *progress {
	return &progress{w: w, requests: requests, events: events, last: time.Now()}
}

func (p *progress) tick(phase string, elapsed, total time.Duration) {
	if p.w == nil {
		return
	}
	now := time.Now()
	secs := now.Sub(p.last).Seconds()
	if secs < 1 {
		return
	}
	reqs, events := p.requests.Load(), p.events.Load()
	fmt.Fprintf(p.w, "\r\033[K%s %v of %v: %.0f requests/s, %.0f events/s",
		phase, elapsed.Round(time.Second), total, float64(reqs-p.lastReqs)/secs, float64(events-p.lastEvents)/secs)
	p.last, p.lastReqs, p.lastEvents, p.written = now, reqs, events, true
}

func (p *progress) clear() {
	if p.w != nil && p.written {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// WriteText writes r for people.
func (r *Result) WriteText(w io.Writer) {
	replicas := fmt.Sprintf("%d replicas", r.Replicas)
	if r.Replicas == 1 {
		replicas = "1 replica"
	}
	target := fmt.Sprintf("%s at %s", replicas, strings.Join(r.Addresses, ","))
	if r.InProcess {
		target = fmt.Sprintf("%s in this process (%s preset) on %s", replicas, r.Preset, strings.Join(r.Addresses, ","))
	}
	e := r.Environment
	load := ""
	if len(e.LoadAverage) == 3 {
		load = fmt.Sprintf(", load average %.2f %.2f %.2f", e.LoadAverage[0], e.LoadAverage[1], e.LoadAverage[2])
	}
	if e.Started != "" {
		fmt.Fprintf(w, "machine: %d cpus (GOMAXPROCS %d), %s/%s, %s%s; started %s\n", e.NumCPU, e.GOMAXPROCS, e.OS, e.Arch, e.GoVersion, load, e.Started)
	}
	fmt.Fprintf(w, "target: %s\n", target)
	fmt.Fprintf(w, "load: %s workload, %d clients x %d callers, events per request: %d, warm-up %v, measured %v\n",
		r.Workload, r.Clients, r.Callers, r.Batch, secs(r.WarmupSeconds), secs(r.DurationSeconds))
	status := ""
	if r.Note != "" {
		status = " (" + r.Note + ")"
	}
	fmt.Fprintf(w, "measured: %d requests, %d events in %.2fs%s\n", r.Requests, r.Events, r.ElapsedSeconds, status)
	fmt.Fprintf(w, "throughput: %.0f requests/s, %.0f events/s\n", r.RequestsPerSecond, r.EventsPerSecond)
	l := r.Latency
	fmt.Fprintf(w, "latency per request: p50 %v  p90 %v  p99 %v  p99.9 %v  max %v\n",
		us(l.P50), us(l.P90), us(l.P99), us(l.P999), us(l.Max))
	who := "this process: the clients only"
	if r.InProcess {
		who = "this process: the clients and the replicas, which run in-process"
	}
	cpu := r.CPUUserSeconds + r.CPUSysSeconds
	perEvent := ""
	if r.Events > 0 {
		perEvent = fmt.Sprintf(", %.1f µs per event", cpu*1e6/float64(r.Events))
	}
	cores := 0.0
	if r.ElapsedSeconds > 0 {
		cores = cpu / r.ElapsedSeconds
	}
	fmt.Fprintf(w, "cpu: user %.2fs + sys %.2fs = %.2f cores%s (%s)\n", r.CPUUserSeconds, r.CPUSysSeconds, cores, perEvent, who)
	fmt.Fprintf(w, "peak rss: %.0f MiB (%s)\n", float64(r.PeakRSSBytes)/(1<<20), who)
	if c := r.Checkpoints; c != nil && c.Checkpoints > 0 {
		n := float64(c.Checkpoints)
		fmt.Fprintf(w, "checkpoints: %d (all replicas), each wrote %.1f MiB in %.0f blocks on average (%.0f of them ahead, %.0f taken) and shared %.0f unchanged; longest journal time %v\n",
			c.Checkpoints, float64(c.BytesWritten)/n/(1<<20), float64(c.BlocksWritten)/n, float64(c.Prewritten)/n, float64(c.PrewriteUsed)/n, float64(c.BlocksShared)/n, us(c.JournalMaxMicros))
	}
	if e := r.Effects; e != nil {
		fmt.Fprintf(w, "effects: %d delivered in the measured phase, %.0f/s (sink latency %v); %d refusals as outbox_full (sent again); admission held %d requests (%d prepared after the wait)\n",
			e.Delivered, e.DeliveredPerSecond, us(e.SinkLatencyMicros), e.OutboxFull, e.AdmissionHeld, e.AdmissionExpired)
		fmt.Fprintf(w, "effects drain: %d pending when the load stopped, drained in %.2fs (%.0f/s); created %d, applied %d, missing %d\n",
			e.PendingAtEnd, e.DrainSeconds, e.DrainPerSecond, e.Created, e.Applied, e.Missing)
		fmt.Fprintf(w, "effects sink: %d POSTs answered, %d re-deliveries (%.3f%%), %d rejected\n",
			e.Posts, e.Redeliveries, 100*e.RedeliveryRatio, e.Rejected)
	}
}

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// us formats microseconds with three significant digits.
func us(v float64) string {
	d := time.Duration(v * 1e3)
	switch {
	case d >= 100*time.Millisecond:
		return d.Round(time.Millisecond).String()
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	default:
		return d.Round(time.Microsecond).String()
	}
}
