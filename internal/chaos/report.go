package chaos

import (
	"fmt"
	"io"
	"slices"
	"time"
)

// FaultResult is one injected fault.
type FaultResult struct {
	Kind    Fault
	Victims []int
	// At is the time of the fault since the load started.
	At time.Duration
	// Window is the no-acknowledgement window: from the fault to the first
	// acknowledgement of a call made after it (0 if none came).
	Window time.Duration
}

// Report is what a Run saw.
type Report struct {
	Replicas int
	Seed     uint64
	Faults   []FaultResult
	// Calls and Acked count acknowledged calls and the transfers they
	// created; Created is how many transfers exist at the end (acked ones
	// plus those whose calls were abandoned when the load stopped).
	Calls, Acked, Created int
	// ErrorResults counts transfers the ledger refused with an error
	// result; ResultCounts says which ("outbox_full 12", …).
	ErrorResults int
	ResultCounts []string
	// Effects counts effects applied at the sink (a duplicate twice),
	// Duplicates the transfers whose effect was applied more than once,
	// and Deliveries the HTTP deliveries the sink served (duplicates
	// included). Sink describes the sink.
	Effects, Duplicates, Deliveries int
	Sink                            string
	// FinalView is the view the cluster converged in: the number of view
	// changes of the run (every replica starts in view 0).
	FinalView uint32
	// FinalCommit is the commit number all replicas reached.
	FinalCommit uint64
	// Violations are safety or convergence failures; KnownIssues are
	// panics matching Config.KnownIssues.
	Violations  []string
	KnownIssues []string
	Elapsed     time.Duration
}

// WindowStats returns the min, median and max no-ack window of the faults
// of kind, and how many there were.
func (r *Report) WindowStats(kind Fault) (lo, median, hi time.Duration, n int) {
	var ws []time.Duration
	for _, f := range r.Faults {
		if f.Kind == kind && f.Window > 0 {
			ws = append(ws, f.Window)
		}
	}
	if len(ws) == 0 {
		return 0, 0, 0, 0
	}
	slices.Sort(ws)
	return ws[0], ws[len(ws)/2], ws[len(ws)-1], len(ws)
}

// Write prints the report.
func (r *Report) Write(w io.Writer) {
	fmt.Fprintf(w, "chaos: %d replicas, seed %d, %d faults in %v\n", r.Replicas, r.Seed, len(r.Faults), r.Elapsed.Round(time.Millisecond))
	for _, f := range r.Faults {
		fmt.Fprintf(w, "  %8.3fs %-13s replicas %v  no-ack window %v\n", f.At.Seconds(), f.Kind, f.Victims, f.Window.Round(time.Millisecond))
	}
	fmt.Fprintf(w, "no-ack window by fault (min / median / max):\n")
	for _, kind := range AllFaults {
		lo, med, hi, n := r.WindowStats(kind)
		if n > 0 {
			fmt.Fprintf(w, "  %-13s %3d  %v / %v / %v\n", kind, n, lo.Round(time.Millisecond), med.Round(time.Millisecond), hi.Round(time.Millisecond))
		}
	}
	fmt.Fprintf(w, "calls %d, transfers acknowledged %d, created %d, error results %d %v\n", r.Calls, r.Acked, r.Created, r.ErrorResults, r.ResultCounts)
	if r.Sink != "" {
		fmt.Fprintf(w, "effects to %s: applied %d, duplicates %d, deliveries %d\n", r.Sink, r.Effects, r.Duplicates, r.Deliveries)
	}
	fmt.Fprintf(w, "converged: view %d (view changes), commit %d\n", r.FinalView, r.FinalCommit)
	for _, k := range r.KnownIssues {
		fmt.Fprintf(w, "KNOWN ISSUE: %s\n", k)
	}
	for _, v := range r.Violations {
		fmt.Fprintf(w, "VIOLATION: %s\n", v)
	}
	if len(r.Violations) == 0 {
		fmt.Fprintf(w, "ok: no panics, no lost acknowledged transfers, no effect applied twice, converged\n")
	}
}
