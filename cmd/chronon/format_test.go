package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chronon-db/chronon/internal/persist"
	"github.com/chronon-db/chronon/journal"
	"github.com/chronon-db/chronon/outbox"
	"github.com/chronon-db/chronon/replica"
	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

func TestFormatCreatesAndRefusesOverwrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0_0.chronon")
	var out, errOut bytes.Buffer
	args := []string{"format", "--cluster=0xC1", "--replica=0", "--replica-count=3", "--preset=test", path}
	if code := run(args, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "formatted "+path) {
		t.Fatalf("stdout: %s", out.String())
	}
	st, err := os.Stat(path)
	if err != nil || st.Size() != 12615680 {
		t.Fatalf("file: %v %v", st, err)
	}
	out.Reset()
	errOut.Reset()
	if code := run(args, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "file exists") {
		t.Fatalf("second format: exit %d, stderr %q", code, errOut.String())
	}
	if st2, _ := os.Stat(path); st2.ModTime() != st.ModTime() {
		t.Fatal("existing file was modified")
	}
}

// TestFormatClientsMax formats a test-preset file for 100 client sessions:
// the superblock records them and the grid grew for their replies.
func TestFormatClientsMax(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.chronon")
	var out, errOut bytes.Buffer
	if code := run([]string{"format", "--cluster=1", "--replica=0", "--replica-count=3", "--preset=test", "--clients-max=100", path}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "100 client sessions") {
		t.Fatalf("stdout: %s", out.String())
	}
	sb, err := dataFileSuperblock(path)
	if err != nil {
		t.Fatal(err)
	}
	if sb.Config.ClientsMax != 100 || sb.Config.GridBlockCount <= journal.ConfigTest.GridBlockCount || sb.Config.MessageSizeMax != journal.ConfigTest.MessageSizeMax {
		t.Fatalf("superblock config %+v", sb.Config)
	}
	if caps, err := capacityFromParams(sb.Params); err != nil || caps != capacityTest {
		t.Fatalf("capacity of a test-preset file with 100 sessions: %+v, %v", caps, err)
	}
}

func TestFormatUsageErrors(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"format"},
		{"format", filepath.Join(dir, "a")},
		{"format", "--cluster=1", "--replica=3", "--replica-count=3", filepath.Join(dir, "b")},
		{"format", "--cluster=-1", "--replica=0", "--replica-count=1", filepath.Join(dir, "c")},
		{"format", "--cluster=0x1" + strings.Repeat("0", 32), "--replica=0", "--replica-count=1", filepath.Join(dir, "d")},
		{"format", "--cluster=1", "--replica=0", "--replica-count=1", "--preset=huge", filepath.Join(dir, "e")},
		{"format", "--cluster=1", "--replica=0", "--replica-count=1", "--clients-max=5000", filepath.Join(dir, "f")},
		{"format", "--cluster=1", "--replica=0", "--replica-count=1", "--clients-max=-1", filepath.Join(dir, "g")},
	} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != 2 {
			t.Errorf("%v: exit %d, stderr %s", args, code, errOut.String())
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("usage errors created files: %v", entries)
	}
}

func TestParseUint128(t *testing.T) {
	for in, want := range map[string]wire.Uint128{
		"0":    {},
		"42":   {Lo: 42},
		"0x2A": {Lo: 42},
		"340282366920938463463374607431768211455": {Lo: ^uint64(0), Hi: ^uint64(0)},
		"0x10000000000000000":                     {Hi: 1},
	} {
		got, err := parseUint128(in)
		if err != nil || got != want {
			t.Errorf("%s: %v %v", in, got, err)
		}
	}
	for _, in := range []string{"", "0x", "x1", "-1", "+1", "0x-1", "1e3", "340282366920938463463374607431768211456"} {
		if _, err := parseUint128(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

// TestFormatCapacity formats a test-preset file for more ledger records
// than the preset holds: the superblock keeps the capacities, the grid grew
// to hold two checkpoints of the state machines chronon start builds from
// them (the check node.Start makes), and inspect shows them. Values out of
// range are refused naming the flag.
func TestFormatCapacity(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.chronon")
	var out, errOut bytes.Buffer
	args := []string{"format", "--cluster=1", "--replica=0", "--replica-count=3", "--preset=test", "--accounts-max=5000", "--transfers-max=100000", "--kv-keys-max=3000", "--effects-max=2000", path}
	if code := run(args, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "capacity: 5000 accounts, 100000 transfers, 3000 kv keys, 2000 effects") {
		t.Fatalf("stdout: %s", out.String())
	}
	sb, err := dataFileSuperblock(path)
	if err != nil {
		t.Fatal(err)
	}
	caps, err := capacityFromParams(sb.Params)
	want := capacity{ledgerAccounts: 5000, ledgerTransfers: 100000, kvKeys: 3000, outboxEffects: 2000}
	if err != nil || caps != want {
		t.Fatalf("capacity read back: %+v, %v", caps, err)
	}
	if sb.Config.GridBlockCount <= journal.ConfigTest.GridBlockCount {
		t.Fatalf("grid of %d blocks did not grow past the preset's %d", sb.Config.GridBlockCount, journal.ConfigTest.GridBlockCount)
	}
	tbl, err := outbox.NewTable(outboxConfig(sb.Cluster, caps))
	if err != nil {
		t.Fatal(err)
	}
	sessions := replica.SessionsSizeMax(persist.Limits(sb.Config, 3))
	for _, name := range []string{"ledger", "kv", "ledger+effects"} {
		var sm statemachine.StateMachine
		if name == "ledger+effects" {
			sm, err = newStateMachine("ledger", caps, tbl, "http://example.invalid/")
		} else {
			sm, err = newStateMachine(name, caps, nil, "")
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := sb.Config.CheckGrid(journal.CheckpointSizes{State: uint64(sm.SnapshotSizeMax()), Sessions: sessions}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if l, _ := newStateMachine("ledger", caps, nil, ""); l.(statemachine.CapacityReporter).Capacity().RecordsMax != 105000 {
		t.Errorf("ledger capacity %+v, want 105000 records", l.(statemachine.CapacityReporter).Capacity())
	}
	out.Reset()
	if code := run([]string{"inspect", path}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "capacity: 5000 accounts, 100000 transfers, 3000 kv keys, 2000 effects") {
		t.Fatalf("inspect: exit %d: %s", code, out.String())
	}
	for _, bad := range []string{"--transfers-max=-1", "--accounts-max=4294967296", "--effects-max=100000000"} {
		errOut.Reset()
		p := filepath.Join(t.TempDir(), "bad.chronon")
		if code := run([]string{"format", "--cluster=1", "--replica=0", "--replica-count=1", "--preset=test", bad, p}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), strings.TrimPrefix(strings.Split(bad, "=")[0], "--")) {
			t.Errorf("%s: exit %d, stderr %q", bad, code, errOut.String())
		}
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s: a file was created", bad)
		}
	}
}
