package node

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chronon-db/chronon/outbox"
	"github.com/chronon-db/chronon/replica"
	"github.com/chronon-db/chronon/statemachine"
)

func TestSnakeCase(t *testing.T) {
	for in, want := range map[string]string{
		"OpsCommitted":      "ops_committed",
		"DropNotPrimary":    "drop_not_primary",
		"MessagesIn":        "messages_in",
		"RepairRequested":   "repair_requested",
		"DropBadBatchEntry": "drop_bad_batch_entry",
		"IOErrors":          "io_errors",
	} {
		if got := snakeCase(in); got != want {
			t.Errorf("snakeCase(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestWritePrometheus checks the exposition format line by line: every
// sample has a HELP and TYPE for its metric (a histogram's for its
// _bucket, _sum and _count series), a replica label and a number, and no
// metric is described twice.
func TestWritePrometheus(t *testing.T) {
	m := Metrics{Replica: 2, Status: Status{View: 3, Op: 10, CommitMin: 9, CommitMax: 10, Peers: 2},
		ReplicaStatus: replica.StatusViewChange, HasOutbox: true,
		Outbox: outbox.Stats{Emitted: 5, Done: 3, Failed: 1, Open: 1, Kept: 1},
		Dispatcher: outbox.DispatcherStats{Dispatched: 7, Done: 3, Retry: 2, Failed: 1, RetryTimeout: 1, RetryOther: 1,
			Latency: [len(outbox.LatencyBounds) + 1]uint64{2: 4, 5: 1, len(outbox.LatencyBounds): 1}, LatencySum: time.Second},
		HasCapacity: true, Capacity: statemachine.Capacity{Records: 40, RecordsMax: 40, RefusedFull: 6}}
	m.Protocol.OpsCommitted = 9
	var b bytes.Buffer
	if err := m.WritePrometheus(&b); err != nil {
		t.Fatal(err)
	}
	sample := regexp.MustCompile(`^([a-z_]+)\{replica="2"(,[a-z]+="[a-z_]+"|,le="([0-9.e+-]+|\+Inf)")?\} [0-9]+(\.[0-9]+)?(e[-+]?[0-9]+)?$`)
	described := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if name, ok := strings.CutPrefix(line, "# TYPE "); ok {
			described[strings.Fields(name)[0]]++
			continue
		}
		if strings.HasPrefix(line, "# HELP ") {
			continue
		}
		s := sample.FindStringSubmatch(line)
		if s == nil {
			t.Fatalf("malformed sample %q", line)
		}
		name := s[1]
		if base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count"); described[base] == 1 && described[name] == 0 {
			name = base
		}
		if described[name] != 1 {
			t.Fatalf("sample %q: metric described %d times", line, described[s[1]])
		}
	}
	for _, want := range []string{
		`chronon_view{replica="2"} 3`,
		`chronon_status{replica="2",status="view_change"} 1`,
		`chronon_status{replica="2",status="normal"} 0`,
		`chronon_replica_ops_committed_total{replica="2"} 9`,
		`chronon_outbox_dispatched_total{replica="2"} 7`,
		`chronon_outbox_outcomes_total{replica="2",outcome="retry"} 2`,
		`chronon_outbox_failed_kept{replica="2"} 1`,
		`chronon_outbox_retries_total{replica="2",reason="timeout"} 1`,
		`chronon_outbox_delivery_seconds_bucket{replica="2",le="0.001"} 4`,
		`chronon_outbox_delivery_seconds_bucket{replica="2",le="0.01"} 5`,
		`chronon_outbox_delivery_seconds_bucket{replica="2",le="+Inf"} 6`,
		`chronon_outbox_delivery_seconds_count{replica="2"} 6`,
		`chronon_outbox_oldest_open_age_seconds{replica="2"} 0`,
		`chronon_state_machine_records_max{replica="2"} 40`,
		`chronon_state_machine_refused_full_total{replica="2"} 6`,
	} {
		if !strings.Contains(b.String(), want+"\n") {
			t.Errorf("missing %q", want)
		}
	}
}
