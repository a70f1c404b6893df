package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chronon-db/chronon/bench"
)

func TestBenchmarkSweepArgs(t *testing.T) {
	o, err := parseBenchmarkArgs([]string{"--sweep-clients=1, 4,16", "--sweep-batch=1,128", "--out=x"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !o.sweep.on() || !slices.Equal(o.sweep.clients, []int{1, 4, 16}) || !slices.Equal(o.sweep.batches, []int{1, 128}) ||
		o.sweep.out != "x" || o.sweep.pause.Seconds() != 1 {
		t.Errorf("sweep: %+v", o.sweep)
	}
	// One dimension swept: the other is --clients or --batch (or its default).
	o, err = parseBenchmarkArgs([]string{"--workload=ledger", "--sweep-clients=2,8", "--out=x", "--sweep-pause=0s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.sweep.batches, []int{64}) || o.sweep.pause != 0 {
		t.Errorf("ledger sweep of clients: %+v", o.sweep)
	}
	o, err = parseBenchmarkArgs([]string{"--sweep-batch=1,2", "--clients=5", "--out=x"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.sweep.clients, []int{5}) {
		t.Errorf("sweep of batches: %+v", o.sweep)
	}
	// Not a sweep.
	o, err = parseBenchmarkArgs(nil, io.Discard)
	if err != nil || o.sweep.on() {
		t.Errorf("no sweep flags: %+v, %v", o.sweep, err)
	}
	for _, bad := range [][]string{
		{"--sweep-clients=1,4"},                           // without --out
		{"--sweep-clients=1,x", "--out=x"},                // not a number
		{"--sweep-clients=1,,4", "--out=x"},               // empty item
		{"--sweep-clients=0,4", "--out=x"},                // below 1
		{"--sweep-batch=4,4", "--out=x"},                  // repeated
		{"--sweep-clients=1,4", "--clients=2", "--out=x"}, // both
		{"--sweep-batch=1,4", "--batch=2", "--out=x"},     // both
		{"--out=x"},          // not a sweep
		{"--sweep-pause=2s"}, // not a sweep
		{"--sweep-clients=1", "--sweep-pause=-1s", "--out=x"},                                              // negative pause
		{"--workload=ledger", "--preset=test", "--sweep-batch=64,512", "--sweep-clients=1,2,3", "--out=x"}, // 8192 transfers / 6 < 4 x 512
	} {
		if _, err := parseBenchmarkArgs(bad, io.Discard); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestBenchmarkSweepRunningCluster runs a tiny ledger sweep (2 client
// counts x 1 batch size) against a cluster that runs outside the
// benchmark, and checks the files it writes.
func TestBenchmarkSweepRunningCluster(t *testing.T) {
	c := startTestCluster(t, "ledger", 1, 5)
	out := filepath.Join(t.TempDir(), "sweep")
	args := []string{"benchmark", "--addresses=" + strings.Join(c.Addresses(), ","), "--cluster=5", "--preset=test",
		"--workload=ledger", "--accounts=32", "--sweep-clients=1,3", "--sweep-batch=4", "--sweep-pause=10ms",
		"--warmup=50ms", "--duration=300ms", "--out=" + out, "--json"}
	var stdout, stderr bytes.Buffer
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d, stderr: %s\nstdout: %s", code, stderr.String(), stdout.String())
	}
	var printed []bench.SweepPoint
	if err := json.Unmarshal(stdout.Bytes(), &printed); err != nil {
		t.Fatalf("stdout is not the JSON array: %v\n%s", err, stdout.String())
	}
	if len(printed) != 2 || printed[0].Clients != 1 || printed[1].Clients != 3 {
		t.Fatalf("points: %+v", printed)
	}
	for _, p := range printed {
		if p.Error != "" || p.InProcess || p.Batch != 4 || p.Events != 4*p.Requests || p.Requests == 0 {
			t.Errorf("point: %+v", p)
		}
	}
	if !strings.Contains(stderr.String(), "[2/2] clients 3, batch 4:") {
		t.Errorf("progress lines: %s", stderr.String())
	}
	files := newSweepFiles(out, "ledger")
	raw, err := os.ReadFile(files.json)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw, stdout.Bytes()) {
		t.Errorf("%s differs from the printed array", files.json)
	}
	f, err := os.Open(files.csv)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) != 3 || rows[1][0] != "ledger" {
		t.Errorf("%s: %q, %v", files.csv, rows, err)
	}
	svg, err := os.ReadFile(files.svg)
	if err != nil || !bytes.Contains(svg, []byte("batch 4: p99")) {
		t.Errorf("%s: %v\n%s", files.svg, err, svg)
	}
}
