package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestVOPRSeedPasses(t *testing.T) {
	var out, errb bytes.Buffer
	code := run([]string{"vopr", "--seed", "3", "--no-faults", "--ticks", "300", "--liveness-ticks", "600"}, &out, &errb)
	if code != 0 || !strings.Contains(out.String(), "seed 3 passed") {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errb.String())
	}
}

func TestVOPRSeedsSummary(t *testing.T) {
	var out, errb bytes.Buffer
	code := run([]string{"vopr", "--seeds", "3", "--start", "5", "--no-faults", "--workload", "ledger", "--ticks", "200", "--liveness-ticks", "600"}, &out, &errb)
	s := out.String()
	if code != 0 || !strings.Contains(s, "3 seeds (5..7)") || !strings.Contains(s, "faults injected") || !strings.Contains(s, "crash_mid_write") {
		t.Fatalf("exit %d\n%s%s", code, s, errb.String())
	}
	if !strings.Contains(s, "duplicate applications 0 (must be 0), deliveries from a non-primary 0 (must be 0)") ||
		strings.Contains(s, "emitted 0,") || strings.Contains(s, "applied at the receiver 0 ") {
		t.Fatalf("no effect figures, or no effect applied:\n%s", s)
	}
}

func TestVOPRBadFlags(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"vopr", "--workload", "nope"}, &out, &errb); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
}
