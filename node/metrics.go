package node

import (
	"bufio"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/chronon-db/chronon/internal/bus"
	"github.com/chronon-db/chronon/internal/persist"
	"github.com/chronon-db/chronon/journal"
	"github.com/chronon-db/chronon/outbox"
	"github.com/chronon-db/chronon/replica"
	"github.com/chronon-db/chronon/statemachine"
)

// Metrics is a snapshot of a node's counters and gauges for monitoring.
type Metrics struct {
	Replica       uint8
	Status        Status
	ReplicaStatus replica.Status
	Primary       bool
	// Protocol counts what the replica did and dropped (replica.Counters).
	Protocol replica.Counters
	// Bus counts connections and messages.
	Bus bus.Counters
	// WAL counts the journal's prepare writes (batches, prepares per batch)
	// and checkpoints.
	WAL persist.WALCounters
	// CheckpointLast and CheckpointMax are the journal time of the last
	// and of the longest checkpoint since start.
	CheckpointLast, CheckpointMax time.Duration
	// StableCache counts the block cache through which a GridBacked state
	// machine reads back what it dropped from memory; StateOmitted is how
	// many bytes of its state it holds only in the grid.
	StableCache  journal.StableCacheStats
	StateOmitted uint64
	// HasOutbox says whether Outbox and Dispatcher are meaningful.
	HasOutbox bool
	// Outbox is the replicated table's counters: the same on every replica
	// that has applied the same ops.
	Outbox outbox.Stats
	// OutboxOldest is the commit time (ns since the epoch) of the oldest
	// open effect, 0 when none is open.
	OutboxOldest uint64
	// Dispatcher counts this replica's own deliveries (it dispatches only
	// while it is the primary).
	Dispatcher outbox.DispatcherStats
	// HasCapacity says whether Capacity is meaningful (the state machine
	// is a statemachine.CapacityReporter).
	HasCapacity bool
	// Capacity is the state machine's fill level and the events it refused
	// because it was full.
	Capacity statemachine.Capacity
}

// metricsBox holds the snapshot the event loop publishes for other
// goroutines.
type metricsBox struct {
	mu sync.Mutex
	m  Metrics
}

// publishMetrics copies the loop's counters for Metrics. Called by the
// event loop every tick.
func (n *Node) publishMetrics() {
	r := n.replica
	n.metrics.mu.Lock()
	m := &n.metrics.m
	m.Replica = r.Index()
	m.ReplicaStatus = r.Status()
	m.Primary = r.IsPrimary()
	m.Protocol = r.Counters
	m.Bus = n.bus.Counters
	m.WAL = n.wal.Counters
	m.CheckpointLast, m.CheckpointMax = n.wal.CheckpointLast, n.wal.CheckpointMax
	m.StableCache = n.journal.StableCacheStats()
	if g, ok := n.cfg.StateMachine.(statemachine.GridBacked); ok {
		m.StateOmitted = uint64(g.StableOmitted())
	}
	sm := n.cfg.StateMachine
	if n.outbox != nil {
		m.HasOutbox = true
		m.Outbox = n.outbox.Table().Stats()
		m.OutboxOldest, _ = n.outbox.Table().OldestCreated()
		sm = n.outbox.Inner()
	}
	if c, ok := sm.(statemachine.CapacityReporter); ok {
		m.HasCapacity = true
		m.Capacity = c.Capacity()
	}
	n.metrics.mu.Unlock()
}

// Metrics returns the node's counters as of its last tick. Safe to call
// from any goroutine.
func (n *Node) Metrics() Metrics {
	n.metrics.mu.Lock()
	m := n.metrics.m
	n.metrics.mu.Unlock()
	m.Status = n.Status()
	if n.disp != nil {
		m.Dispatcher = n.disp.Stats()
	}
	return m
}

// WritePrometheus writes m in the Prometheus text exposition format
// (version 0.0.4). Every series carries a replica label.
func (m *Metrics) WritePrometheus(w io.Writer) error {
	b := bufio.NewWriter(w)
	label := fmt.Sprintf(`replica="%d"`, m.Replica)
	gauge := func(name, help string, v any) {
		fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s gauge\n%s{%s} %v\n", name, help, name, name, label, v)
	}
	counter := func(name, help string, v uint64) {
		fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s counter\n%s{%s} %d\n", name, help, name, name, label, v)
	}
	gauge("chronon_view", "Current view.", m.Status.View)
	gauge("chronon_op", "Highest op in the replica's log.", m.Status.Op)
	gauge("chronon_commit_min", "Highest op applied to the state machine.", m.Status.CommitMin)
	gauge("chronon_commit_max", "Highest op known to be committed.", m.Status.CommitMax)
	gauge("chronon_peers_connected", "Other replicas this one is connected to.", m.Status.Peers)
	gauge("chronon_primary", "1 if this replica is the primary of its view.", boolToInt(m.Primary))
	fmt.Fprintf(b, "# HELP chronon_status The replica's VSR status (1 for the current one).\n# TYPE chronon_status gauge\n")
	for _, s := range []replica.Status{replica.StatusNormal, replica.StatusViewChange, replica.StatusRecovering} {
		fmt.Fprintf(b, "chronon_status{%s,status=%q} %d\n", label, s.String(), boolToInt(s == m.ReplicaStatus))
	}
	if m.HasCapacity {
		gauge("chronon_state_machine_records", "Records the state machine holds (accounts and transfers, keys).", m.Capacity.Records)
		gauge("chronon_state_machine_records_max", "Records the state machine can hold; at this level it refuses new ones.", m.Capacity.RecordsMax)
		counter("chronon_state_machine_refused_full_total", "Events refused because the state machine was full (result full).", m.Capacity.RefusedFull)
	}
	writeCounterStruct(b, label, "chronon_replica_", "Replica protocol counter", &m.Protocol)
	writeCounterStruct(b, label, "chronon_bus_", "Message bus counter", &m.Bus)
	writeCounterStruct(b, label, "chronon_wal_", "Journal write counter", &m.WAL)
	gauge("chronon_checkpoint_last_seconds", "Journal time of the last checkpoint (changed blocks, sync, superblock).", m.CheckpointLast.Seconds())
	gauge("chronon_checkpoint_max_seconds", "Journal time of the longest checkpoint since start.", m.CheckpointMax.Seconds())
	gauge("chronon_state_omitted_bytes", "Bytes of the state machine's state held only in the grid (read back through the stable block cache).", m.StateOmitted)
	gauge("chronon_stable_cache_blocks", "Grid blocks the stable block cache holds (--cache-size).", uint64(m.StableCache.Blocks))
	counter("chronon_stable_cache_hits_total", "Stable block reads served from the cache.", m.StableCache.Hits)
	counter("chronon_stable_cache_misses_total", "Stable block reads that read and verified a grid block.", m.StableCache.Misses)
	if m.HasOutbox {
		o, d := &m.Outbox, &m.Dispatcher
		counter("chronon_outbox_emitted_total", "Effects committed to the outbox (replicated).", o.Emitted)
		counter("chronon_outbox_done_total", "Effects acknowledged as done through consensus (replicated).", o.Done)
		counter("chronon_outbox_failed_total", "Effects that failed permanently (replicated).", o.Failed)
		gauge("chronon_outbox_open", "Effects pending or retrying (replicated).", o.Open)
		gauge("chronon_outbox_failed_kept", "Failed effects kept for inspection (replicated).", o.Kept)
		counter("chronon_outbox_dispatched_total", "Deliveries this replica started as primary.", d.Dispatched)
		fmt.Fprintf(b, "# HELP chronon_outbox_outcomes_total Outcomes of this replica's deliveries: done, retry and failed become acks; fenced and dropped do not.\n# TYPE chronon_outbox_outcomes_total counter\n")
		for _, o := range []struct {
			name string
			v    uint64
		}{{"done", d.Done}, {"retry", d.Retry}, {"failed", d.Failed}, {"fenced", d.Fenced}, {"dropped", d.Dropped}} {
			fmt.Fprintf(b, "chronon_outbox_outcomes_total{%s,outcome=%q} %d\n", label, o.name, o.v)
		}
		gauge("chronon_outbox_in_flight", "Deliveries running now.", d.InFlight)
		gauge("chronon_outbox_awaiting_ack", "Outcomes waiting to be submitted or committed as acks.", d.Awaiting)
		age := 0.0
		if m.OutboxOldest != 0 {
			age = max(time.Since(time.Unix(0, int64(m.OutboxOldest))).Seconds(), 0)
		}
		gauge("chronon_outbox_oldest_open_age_seconds", "Age of the oldest open effect, from its commit (0: none open): the outbox's lag.", age)
		fmt.Fprintf(b, "# HELP chronon_outbox_retries_total Transient failures of this replica's deliveries, by reason: timeout (the attempt ran out of time) or other.\n# TYPE chronon_outbox_retries_total counter\n")
		fmt.Fprintf(b, "chronon_outbox_retries_total{%s,reason=\"timeout\"} %d\n", label, d.RetryTimeout)
		fmt.Fprintf(b, "chronon_outbox_retries_total{%s,reason=\"other\"} %d\n", label, d.RetryOther)
		counter("chronon_outbox_acks_refused_total", "Ack bodies' acks the replica refused (kept and submitted again).", d.AcksRefused)
		counter("chronon_outbox_acks_expired_total", "Submitted acks not seen committed within the ack timeout (their effects are dispatched again).", d.AcksExpired)
		gauge("chronon_outbox_ack_timeout_seconds", "The ack timeout in use (adaptive: 8 x the p99 of ack commit times, bounded).", d.AckTimeout.Seconds())
		fmt.Fprintf(b, "# HELP chronon_outbox_delivery_seconds Time from dispatch to the sink's answer, of this replica's deliveries.\n# TYPE chronon_outbox_delivery_seconds histogram\n")
		var cum, sum uint64
		for i, bound := range outbox.LatencyBounds {
			cum += d.Latency[i]
			fmt.Fprintf(b, "chronon_outbox_delivery_seconds_bucket{%s,le=\"%g\"} %d\n", label, bound.Seconds(), cum)
		}
		for _, n := range d.Latency {
			sum += n
		}
		fmt.Fprintf(b, "chronon_outbox_delivery_seconds_bucket{%s,le=\"+Inf\"} %d\n", label, sum)
		fmt.Fprintf(b, "chronon_outbox_delivery_seconds_sum{%s} %g\n", label, d.LatencySum.Seconds())
		fmt.Fprintf(b, "chronon_outbox_delivery_seconds_count{%s} %d\n", label, sum)
	}
	return b.Flush()
}

// writeCounterStruct writes every uint64 field of the struct at p as a
// counter named prefix + snake_case(field) + "_total". Reflection keeps the
// exposition in step with the counter structs; it runs only when metrics
// are scraped, never on the event loop.
func writeCounterStruct(b *bufio.Writer, label, prefix, help string, p any) {
	v := reflect.ValueOf(p).Elem()
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Type.Kind() != reflect.Uint64 || !f.IsExported() {
			continue
		}
		name := prefix + snakeCase(f.Name) + "_total"
		fmt.Fprintf(b, "# HELP %s %s %s.\n# TYPE %s counter\n%s{%s} %d\n", name, help, f.Name, name, name, label, v.Field(i).Uint())
	}
}

// snakeCase turns "OpsCommitted" into "ops_committed".
func snakeCase(s string) string {
	var b strings.Builder
	runes := []rune(s)
	for i, r := range runes {
		if unicode.IsUpper(r) {
			if i > 0 && (unicode.IsLower(runes[i-1]) || (i+1 < len(runes) && unicode.IsLower(runes[i+1]))) {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

func boolToInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
