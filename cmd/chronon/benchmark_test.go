package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chronon-db/chronon/bench"
	"github.com/chronon-db/chronon/cluster"
	"github.com/chronon-db/chronon/journal"
	"github.com/chronon-db/chronon/outbox"
	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

func TestBenchmarkArgs(t *testing.T) {
	o, err := parseBenchmarkArgs(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c := o.cfg
	if c.Workload != "kv" || c.Replicas != 3 || c.Preset != "production" || c.Batch != 1 || c.Keys != 100_000 ||
		c.KeySize != 16 || c.ValueSize != 64 || c.Clients != 32 || c.NewStateMachine == nil || o.json {
		t.Errorf("defaults: %+v", c)
	}
	o, err = parseBenchmarkArgs([]string{"--workload=ledger", "--preset=test", "--hot-accounts=10", "--json"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c = o.cfg
	if c.Batch != 64 || c.Accounts != 1024 || c.Transfers != 8192 || c.HotAccounts != 10 || !o.json {
		t.Errorf("ledger on the test preset: %+v", c)
	}
	o, err = parseBenchmarkArgs([]string{"--addresses=127.0.0.1:1,127.0.0.1:2,127.0.0.1:3", "--cluster=0x7", "--value-size=1000"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.cfg.Addresses) != 3 || o.cfg.Cluster.Lo != 7 || o.cfg.NewStateMachine != nil {
		t.Errorf("running cluster: %+v", o.cfg)
	}
	if _, err := parseBenchmarkArgs([]string{"--help"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("--help: %v", err)
	}
	for _, bad := range [][]string{
		{"--replicas=4"},
		{"--workload=sql"},
		{"--preset=huge"},
		{"--read-ratio=1.5"},
		{"--key-size=65"},
		{"--key-size=1", "--keys=300"},
		{"--value-size=300"},                            // above the local kv store's values
		{"--workload=ledger", "--transfers=3000000000"}, // above any ledger's capacity
		{"--workload=ledger", "--hot-accounts=20000"},
		{"--clients=0"},
		{"--preset=test", "--clients=17", "--clients-max=16"}, // more clients than sessions
		{"--addresses=127.0.0.1:1", "--cluster=7", "--clients-max=100"},
		{"--workload=ledger-effects", "--addresses=127.0.0.1:1", "--cluster=7"}, // its sink runs in-process
		{"--io=nope"},
		{"--io=fallback", "--addresses=127.0.0.1:1", "--cluster=7"},
		{"--workload=ledger-effects", "--sink-latency=-1s"},
		{"--duration=0s"},
		{"--addresses=127.0.0.1:1"}, // without --cluster
		{"--cluster=7"},             // without --addresses
		{"--addresses=127.0.0.1:1", "--cluster=7", "--replicas=5"}, // a local-cluster flag
		{"extra"},
	} {
		if _, err := parseBenchmarkArgs(bad, io.Discard); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestBenchmarkRuns is the benchmark's run in CI: both workloads against an
// in-process 3-replica cluster for about a second (less with -short). It
// checks that the harness works and reports consistent figures, not speed.
func TestBenchmarkRuns(t *testing.T) {
	warmup, duration := "200ms", "1s"
	if testing.Short() {
		warmup, duration = "100ms", "400ms"
	}
	for _, tc := range []struct {
		workload string
		args     []string
	}{
		{"kv", []string{"--read-ratio=0.5", "--key-size=8", "--value-size=32"}},
		{"ledger", []string{"--batch=8", "--accounts=64", "--hot-accounts=4"}},
		{"ledger-effects", []string{"--batch=8", "--accounts=64", "--io=fallback"}},
	} {
		t.Run(tc.workload, func(t *testing.T) {
			dir := t.TempDir()
			profile := filepath.Join(dir, "cpu.pprof")
			args := append([]string{"benchmark", "--json", "--preset=test", "--replicas=3", "--clients=3", "--callers=2",
				"--warmup=" + warmup, "--duration=" + duration, "--workload=" + tc.workload, "--dir=" + dir,
				"--cpuprofile=" + profile}, tc.args...)
			var out, errOut bytes.Buffer
			if code := run(args, &out, &errOut); code != 0 {
				t.Fatalf("exit %d, stderr: %s\nstdout: %s", code, errOut.String(), out.String())
			}
			var r bench.Result
			dec := json.NewDecoder(&out)
			dec.DisallowUnknownFields()
			if err := dec.Decode(&r); err != nil {
				t.Fatalf("output is not one JSON result: %v\n%s", err, out.String())
			}
			l := r.Latency
			switch {
			case r.Workload != tc.workload || !r.InProcess || r.Replicas != 3 || r.Partial:
				t.Errorf("run: %+v", r)
			case r.Requests <= 0 || r.RequestsPerSecond <= 0 || r.EventsPerSecond <= 0:
				t.Errorf("no throughput: %+v", r)
			case tc.workload != "kv" && r.Events != 8*r.Requests, tc.workload == "kv" && r.Events != r.Requests:
				t.Errorf("%d events for %d requests", r.Events, r.Requests)
			case !(0 < l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max):
				t.Errorf("percentiles out of order: %+v", l)
			case r.CPUUserSeconds+r.CPUSysSeconds <= 0 || r.PeakRSSBytes <= 0:
				t.Errorf("no resource usage: %+v", r)
			case (r.Effects != nil) != (tc.workload == "ledger-effects"):
				t.Errorf("effects result %+v for workload %s", r.Effects, tc.workload)
			}
			if e := r.Effects; e != nil {
				// Every created transfer's effect reached the sink once
				// (the drain waits for them), none malformed.
				if e.Created <= 0 || e.Applied != e.Created || e.Missing != 0 || e.Rejected != 0 ||
					e.Posts != e.Applied+e.Redeliveries || e.Delivered > e.Applied {
					t.Errorf("effects: %+v", e)
				}
			}
			if st, err := os.Stat(profile); err != nil || st.Size() == 0 {
				t.Errorf("cpu profile: %v", err)
			}
		})
	}
}

// TestBenchmarkRunningCluster targets a cluster that runs outside the
// benchmark (here a cluster.Start in the test) by its addresses and id.
func TestBenchmarkRunningCluster(t *testing.T) {
	c := startTestCluster(t, "kv", 3, 9)
	args := []string{"benchmark", "--addresses=" + strings.Join(c.Addresses(), ","), "--cluster=9", "--preset=test",
		"--keys=100", "--read-ratio=0.2", "--clients=2", "--warmup=50ms", "--duration=300ms"}
	var out, errOut bytes.Buffer
	if code := run(args, &out, &errOut); code != 0 {
		t.Fatalf("exit %d, stderr: %s\nstdout: %s", code, errOut.String(), out.String())
	}
	for _, want := range []string{"target: 3 replicas at " + strings.Join(c.Addresses(), ","), "requests/s", "this process: the clients only"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestBenchmarkTextOutput(t *testing.T) {
	r := bench.Result{Workload: "kv", InProcess: true, Replicas: 3, Preset: "test", Addresses: []string{"a:1"},
		Clients: 2, Callers: 1, Batch: 1, DurationSeconds: 1, ElapsedSeconds: 1, Requests: 10, Events: 10,
		RequestsPerSecond: 10, EventsPerSecond: 10, Latency: bench.LatencyResult{P50: 1500, P90: 2000, P99: 3000, P999: 4000, Max: 4100},
		CPUUserSeconds: 0.5, CPUSysSeconds: 0.25, PeakRSSBytes: 64 << 20}
	var out bytes.Buffer
	r.WriteText(&out)
	for _, want := range []string{"3 replicas in this process (test preset)", "10 requests/s, 10 events/s",
		"p50 1.5ms  p90 2ms  p99 3ms  p99.9 4ms  max 4.1ms", "0.75 cores", "replicas, which run in-process", "peak rss: 64 MiB"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestBenchmarkMoreClientsThanThePreset: a local cluster asked for more
// clients than its preset's sessions (test: 16) is formatted with room for
// them (--clients-max defaults to --clients), and every client registers.
func TestBenchmarkMoreClientsThanThePreset(t *testing.T) {
	r := runBenchmarkJSON(t, "--preset=test", "--replicas=1", "--clients=20", "--warmup=0s", "--duration=300ms", "--dir="+t.TempDir())
	if r.Clients != 20 || r.Requests < 20 {
		t.Fatalf("20 clients, %d requests: %+v", r.Requests, r)
	}
}

// TestBenchmarkLargerStateThanThePreset: a local ledger benchmark asking
// for more accounts than the test preset's ledger holds (1,024) runs on a
// ledger of that capacity: the cluster's grid grows to hold it, and every
// account is created (the benchmark stops at an account refused as full).
func TestBenchmarkLargerStateThanThePreset(t *testing.T) {
	r := runBenchmarkJSON(t, "--workload=ledger", "--preset=test", "--replicas=1", "--clients=2", "--accounts=3000", "--transfers=20000",
		"--warmup=0s", "--duration=300ms", "--dir="+t.TempDir())
	if r.Events == 0 {
		t.Fatalf("no transfers: %+v", r)
	}
}

// runBenchmarkJSON runs chronon benchmark --json with args and returns its
// result; a non-zero exit fails the test.
func runBenchmarkJSON(t *testing.T, args ...string) bench.Result {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := run(append([]string{"benchmark", "--json"}, args...), &out, &errOut); code != 0 {
		t.Fatalf("exit %d, stderr: %s\nstdout: %s", code, errOut.String(), out.String())
	}
	var r bench.Result
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// startTestCluster starts an in-process test-preset cluster of replicas
// running the CLI's state machine machine (kv or ledger), cluster id id,
// stopped when the test ends.
func startTestCluster(t *testing.T, machine string, replicas int, id uint64) *cluster.Cluster {
	t.Helper()
	jcfg, err := journal.Preset("test")
	if err != nil {
		t.Fatal(err)
	}
	c, err := cluster.Start(cluster.Config{
		Replicas: replicas, Dir: t.TempDir(), Preset: "test", Cluster: wire.Uint128{Lo: id},
		NewStateMachine: func(*outbox.Emitter) statemachine.StateMachine {
			sm, err := newStateMachine(machine, presetCapacity(jcfg), nil, "")
			if err != nil {
				panic(err)
			}
			return sm
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = c.Stop() })
	return c
}
