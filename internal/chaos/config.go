package chaos

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"
)

// Fault is a kind of process fault.
type Fault string

// The faults Run injects.
const (
	// KillPrimary sends SIGKILL to the primary and restarts it later from
	// its data file.
	KillPrimary Fault = "kill-primary"
	// KillBackup sends SIGKILL to a backup and restarts it later.
	KillBackup Fault = "kill-backup"
	// KillTwo sends SIGKILL to two replicas at once (any two; a 3-replica
	// cluster loses its quorum until they are back).
	KillTwo Fault = "kill-two"
	// PausePrimary stops the primary with SIGSTOP for Config.PauseFor, then
	// resumes it with SIGCONT.
	PausePrimary Fault = "pause-primary"
)

// AllFaults lists every fault kind.
var AllFaults = []Fault{KillPrimary, KillBackup, KillTwo, PausePrimary}

// ParseFaults parses a comma-separated list of fault kinds; "all" means
// AllFaults and "none" or "" means none.
func ParseFaults(s string) ([]Fault, error) {
	switch s {
	case "all":
		return AllFaults, nil
	case "none", "":
		return nil, nil
	}
	var out []Fault
	for _, name := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' }) {
		ok := false
		for _, f := range AllFaults {
			if string(f) == name {
				out, ok = append(out, f), true
			}
		}
		if !ok {
			return nil, fmt.Errorf("chaos: unknown fault %q (want %v, all or none)", name, AllFaults)
		}
	}
	return out, nil
}

// Config configures a Run.
type Config struct {
	// Binary is the chronon executable started as replicas.
	Binary string
	// Dir holds the data files and the receiver's store.
	Dir string
	// Replicas is the cluster size (default 3).
	Replicas int
	// Preset is the data file preset, "test" (default) or "production".
	Preset string
	// Seed seeds the fault schedule: which fault, which replica, how long.
	Seed uint64
	// Faults are the kinds drawn from; none runs the load without faults
	// (to count spurious view changes).
	Faults []Fault
	// Duration is how long faults are injected (or, without faults, how
	// long the load runs).
	Duration time.Duration
	// Rounds, when positive, injects exactly this many faults instead,
	// cycling through Faults in order.
	Rounds int
	// Effects runs the replicas with --effects-sink pointing at Sink, or
	// without one at an outbox.Receiver in this process.
	Effects bool
	Sink    EffectsSink
	// Clients is the number of client sessions making calls (default 4);
	// Batch the transfers per call (default 4); CallPause the pause after
	// each acknowledged call (default 5 ms).
	Clients   int
	Batch     int
	CallPause time.Duration
	// PauseFor is how long PausePrimary stops the primary (default 5 s).
	PauseFor time.Duration
	// DownFor bounds how long a killed replica stays down (default 2 s; the
	// schedule draws from [DownFor/4, DownFor]).
	DownFor time.Duration
	// Calm bounds the fault-free time between faults once the cluster is
	// healthy again (default 1 s; drawn from [Calm/2, Calm]).
	Calm time.Duration
	// Deadline bounds every wait for recovery and convergence (default
	// 60 s). Missing it is reported as a violation: the cluster did not
	// recover.
	Deadline time.Duration
	// KnownIssues are substrings of log lines that are reported as known
	// issues instead of violations when a replica panics with them. Keep
	// it empty unless a fix is in flight.
	KnownIssues []string
	// Log receives progress (nil: discarded).
	Log *slog.Logger
}

func (c *Config) setDefaults() error {
	if c.Binary == "" || c.Dir == "" {
		return fmt.Errorf("chaos: Binary and Dir are required")
	}
	if c.Replicas == 0 {
		c.Replicas = 3
	}
	if c.Replicas < 3 || c.Replicas > 6 {
		return fmt.Errorf("chaos: %d replicas (want 3 to 6)", c.Replicas)
	}
	if c.Preset == "" {
		c.Preset = "test"
	}
	if c.Clients <= 0 {
		c.Clients = 4
	}
	if c.Batch <= 0 {
		c.Batch = 4
	}
	if c.CallPause == 0 {
		c.CallPause = 5 * time.Millisecond
	}
	if c.PauseFor <= 0 {
		c.PauseFor = 5 * time.Second
	}
	if c.DownFor <= 0 {
		c.DownFor = 2 * time.Second
	}
	if c.Calm <= 0 {
		c.Calm = time.Second
	}
	if c.Deadline <= 0 {
		c.Deadline = 60 * time.Second
	}
	if c.Log == nil {
		c.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return nil
}

// EffectsSink is where the replicas of a Run with Config.Effects deliver
// every created transfer's effect (`chronon start --effects-sink`), and
// how the checks learn what it applied: the in-process outbox.Receiver by
// default, or an endpoint outside this package (the PostgreSQL bridge of
// sinks/postgres).
type EffectsSink interface {
	// URL is the http(s) endpoint; Batch the effects per request
	// (--effects-batch; 1: the single form, one effect per POST).
	URL() string
	Batch() int
	// Applied returns how often each transfer's effect was applied, by
	// transfer id (its low 64 bits), how many deliveries the sink served
	// (duplicates included) and how many were malformed.
	Applied(ctx context.Context) (applied map[uint64]int, deliveries, malformed int, err error)
	// String names the sink in the report.
	String() string
}
