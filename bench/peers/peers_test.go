package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chronon-db/chronon/bench"
)

func TestParseArgsDefaults(t *testing.T) {
	o, err := parseArgs(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(o.clients, []int{1, 64, 256}) || !reflect.DeepEqual(o.etcdConns, []string{"each", "sqrt"}) ||
		o.rounds != 2 || o.keySize != 16 || o.valueSize != 64 || o.keys != kvKeysMax || o.clientsMax != 256 {
		t.Fatalf("defaults: %+v", o)
	}
	o, err = parseArgs([]string{"--clients=2, 8", "--etcd-conns=each,4", "--rounds=3", "--duration=1s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(o.clients, []int{2, 8}) || !reflect.DeepEqual(o.etcdConns, []string{"each", "4"}) || o.rounds != 3 || o.duration != time.Second || o.clientsMax != 64 {
		t.Fatalf("parsed: %+v", o)
	}
}

func TestParseArgsRefuses(t *testing.T) {
	for _, args := range [][]string{
		{"--clients=0"},
		{"--clients=1,x"},
		{"--etcd-conns=some"},
		{"--etcd-conns=0"},
		{"--rounds=0"},
		{"--duration=0s"},
		{"--warmup=-1s"},
		{"--key-size=4"},
		{"--value-size=1000"},
		{"--keys=100001"},
		{"--chronon-clients-max=5000"},
		{"extra"},
	} {
		if _, err := parseArgs(args, io.Discard); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}

func TestEtcdVariants(t *testing.T) {
	modes := []string{"each", "sqrt"}
	for clients, want := range map[int][]int{1: {1}, 64: {64, 8}, 256: {256, 16}, 2: {2, 1}} {
		if got := etcdVariants(modes, clients); !reflect.DeepEqual(got, want) {
			t.Errorf("%d clients: %v, want %v", clients, got, want)
		}
	}
	if got := etcdVariants([]string{"32", "each"}, 16); !reflect.DeepEqual(got, []int{16}) {
		t.Errorf("32 connections for 16 clients: %v, want [16]", got)
	}
	if l := label(systemEtcd, 8, 64); l != "etcd, 8 shared connections" {
		t.Errorf("label: %q", l)
	}
}

// sample is a report of 2 rounds at 64 clients: etcd with a connection
// each and 8 shared, and Chronon, whose second round failed.
func sample() *report {
	run := func(round int, system string, conns int, rate, p50, p99 float64, err string) runResult {
		return runResult{Clients: 64, Round: round, System: system, Connections: conns, Label: label(system, conns, 64), Error: err,
			WallSeconds: 12, ServerCPUSeconds: 14.4,
			Result: bench.Result{Events: int64(rate * 10), EventsPerSecond: rate, ElapsedSeconds: 10, CPUUserSeconds: 3, CPUSysSeconds: 2,
				Latency: bench.LatencyResult{P50: p50, P90: p50, P99: p99, P999: p99, Max: p99}}}
	}
	r := &report{Settings: settings{Clients: []int{64}, Rounds: 2, WarmupS: 2, DurationS: 10, KeySize: 16, ValueSize: 64, Keys: 1000}}
	r.Runs = []runResult{
		run(1, systemEtcd, 64, 3000, 16000, 40000, ""),
		run(1, systemEtcd, 8, 4000, 12000, 30000, ""),
		run(1, systemChronon, 64, 12000, 4000, 12000, ""),
		run(2, systemEtcd, 64, 5000, 12000, 44000, ""),
		run(2, systemEtcd, 8, 4000, 12000, 30000, ""),
		run(2, systemChronon, 64, 0, 0, 0, "bench: client: session evicted | twice"),
	}
	r.Ratios = ratios(r.Runs)
	return r
}

func TestRatiosAreOfTheSuccessfulRoundsMeans(t *testing.T) {
	got := sample().Ratios
	want := []ratio{
		// etcd's rounds average 4000 puts/s, p50 14 ms, p99 42 ms; only
		// Chronon's first round counts.
		{Clients: 64, Versus: "etcd, a connection each", Rounds: 1, Throughput: 3, P50: 4000.0 / 14000, P99: 12000.0 / 42000},
		{Clients: 64, Versus: "etcd, 8 shared connections", Rounds: 1, Throughput: 3, P50: 4000.0 / 12000, P99: 12000.0 / 30000},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ratios\n%+v\nwant\n%+v", got, want)
	}
	// No successful Chronon round: no ratio.
	r := sample()
	r.Runs[2].Error = "refused"
	for _, rt := range ratios(r.Runs) {
		if rt.Rounds != 0 || rt.Throughput != 0 {
			t.Fatalf("ratio without a Chronon result: %+v", rt)
		}
	}
}

func TestWriteMarkdown(t *testing.T) {
	var b bytes.Buffer
	sample().writeMarkdown(&b)
	out := b.String()
	for _, want := range []string{
		"### 64 clients",
		"| 1 | etcd, a connection each | 3,000 | 16.0 ms | 40.0 ms | 40.0 ms | 40.0 ms | 1.20, 0.50 |",
		"| 1 | Chronon, a session each | 12,000 | 4.00 ms | 12.0 ms |",
		`| 2 | Chronon, a session each | failed: bench: client: session evicted \| twice | | | | | |`,
		"| etcd, a connection each | 3.00× | 0.29× | 0.29× |",
		"| etcd, 8 shared connections | 3.00× | 0.33× | 0.40× |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("markdown lacks %q:\n%s", want, out)
		}
	}
}

func TestWriteFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	r := sample()
	if err := r.writeFiles(dir); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, "peers.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1+len(r.Runs) || rows[0][6] != "puts_per_s" || rows[1][6] != "3000" || rows[6][15] != r.Runs[5].Error || rows[1][17] != "14.4" {
		t.Fatalf("csv rows: %q", rows)
	}
	b, err := os.ReadFile(filepath.Join(dir, "peers.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Runs) != len(r.Runs) || !reflect.DeepEqual(back.Ratios, r.Ratios) {
		t.Fatalf("json round trip: %+v", back)
	}
	for _, name := range []string{"peers.md", "peers.svg"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestParseStatCPU(t *testing.T) {
	// A command name with spaces and parentheses; utime 250 and stime 50
	// ticks of 10 ms.
	stat := "4242 (etcd (x) y) S 1 4242 4242 0 -1 4194560 2035 0 0 0 250 50 0 0 20 0 9 0 3900723 0 0"
	if got := parseStatCPU(stat); got != 3*time.Second {
		t.Fatalf("parseStatCPU = %v, want 3s", got)
	}
	for _, bad := range []string{"", "4242 (etcd) S 1", "4242 (etcd) S 1 2 3 4 5 6 7 8 9 x 50"} {
		if got := parseStatCPU(bad); got != 0 {
			t.Errorf("parseStatCPU(%q) = %v, want 0", bad, got)
		}
	}
}

func TestFormats(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 1234567.4: "1,234,567"} {
		if got := fmtRate(v); got != want {
			t.Errorf("fmtRate(%v) = %q, want %q", v, got, want)
		}
	}
	for v, want := range map[float64]string{620: "620 µs", 1210: "1.21 ms", 15900: "15.9 ms", 134000: "134 ms"} {
		if got := fmtLatency(v); got != want {
			t.Errorf("fmtLatency(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestStopEscalatesToSIGKILL(t *testing.T) {
	ps := &procs{}
	dir := t.TempDir()
	polite, err := ps.start("polite", filepath.Join(dir, "polite.log"), "sleep", "60")
	if err != nil {
		t.Fatal(err)
	}
	stubborn, err := ps.start("stubborn", filepath.Join(dir, "stubborn.log"), "sh", "-c", "trap '' TERM; while :; do sleep 0.1; done")
	if err != nil {
		t.Fatal(err)
	}
	if err := polite.stop(time.Minute); err != nil {
		t.Errorf("a process that exits on SIGTERM: %v", err)
	}
	if polite.exited() == nil {
		t.Error("stopped process still running")
	}
	time.Sleep(100 * time.Millisecond) // let sh install its trap
	if err := stubborn.stop(200 * time.Millisecond); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("a process that ignores SIGTERM: %v, want killed", err)
	}
	ps.stopAll(io.Discard) // both already stopped: nothing to do
}

func TestEnsureEtcdSaysHowToInstall(t *testing.T) {
	err := ensureEtcd(context.Background(), filepath.Join(t.TempDir(), "etcd"), true, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "apt-get install -y etcd-server etcd-client") {
		t.Fatalf("missing etcd: %v", err)
	}
}

// TestRunBothSystems runs the whole comparison with tiny phases: etcd and
// Chronon started, measured and stopped, the tables and files written.
func TestRunBothSystems(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd and Chronon clusters and builds cmd/chronon")
	}
	if _, err := os.Stat("/usr/bin/etcd"); err != nil {
		t.Skip("needs etcd at /usr/bin/etcd (apt-get install etcd-server etcd-client)")
	}
	o, err := parseArgs([]string{"--clients=2", "--etcd-conns=each,1", "--rounds=1", "--warmup=100ms", "--duration=300ms",
		"--keys=1000", "--install=false", "--out=" + t.TempDir()}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), o, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\nstderr:\n%s", code, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"| 1 | etcd, a connection each |", "| 1 | etcd, 1 shared connection |", "| 1 | Chronon, a session each |", "× |"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s\nstderr:\n%s", want, out, stderr.String())
		}
	}
	if strings.Contains(out, "failed") || strings.Contains(stderr.String(), "killed") {
		t.Errorf("a failure:\n%s\nstderr:\n%s", out, stderr.String())
	}
}

// TestWriteSVG: the chart is well-formed XML with a line per system and
// connection mode, each point the mean of the successful rounds (etcd, a
// connection each: (3000+5000)/2 = 4000; Chronon: its first round only).
func TestWriteSVG(t *testing.T) {
	var b bytes.Buffer
	if err := sample().writeSVG(&b); err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(bytes.NewReader(b.Bytes()))
	for {
		if _, err := dec.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, b.String())
		}
	}
	out := b.String()
	for _, want := range []string{kindEtcdEach, kindEtcdShared, kindChronon, "p99 42.0 ms", "p99 30.0 ms", "p99 12.0 ms"} {
		if !strings.Contains(out, want) {
			t.Errorf("chart lacks %q", want)
		}
	}
}
