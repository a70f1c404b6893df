package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestDemoRunsALedgerWorkload runs the README's main command on a small
// scale: a local 3-replica cluster, a ledger workload through the client,
// and the throughput and latency report.
func TestDemoRunsALedgerWorkload(t *testing.T) {
	var out, errOut bytes.Buffer
	args := []string{"demo", "--preset=test", "--duration=300ms", "--clients=3", "--callers=2",
		"--batch=8", "--accounts=50", "--dir=" + t.TempDir()}
	if code := run(args, &out, &errOut); code != 0 {
		t.Fatalf("exit %d, stderr: %s\nstdout: %s", code, errOut.String(), out.String())
	}
	for _, want := range []string{"cluster: 3 replicas", "throughput:", "transfers/s", "call latency: p50", "p99",
		"check: sum of debits = sum of credits", "primary:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRunUnknownCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"frobnicate"}, &out, &errOut); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	if !strings.Contains(errOut.String(), `unknown command "frobnicate"`) {
		t.Fatalf("stderr: %s", errOut.String())
	}
}

func TestRunVersionAndHelp(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"version"}, &out, &out); code != 0 || !strings.HasPrefix(out.String(), "chronon ") {
		t.Fatalf("version: exit %d, %q", code, out.String())
	}
	out.Reset()
	if code := run([]string{"help"}, &out, &out); code != 0 || !strings.Contains(out.String(), "version") {
		t.Fatalf("help: exit %d, %q", code, out.String())
	}
}
