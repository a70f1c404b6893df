package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chronon-db/chronon/journal"
	"github.com/chronon-db/chronon/wire"
)

func formatTestFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "r.chronon")
	var out bytes.Buffer
	if code := run([]string{"format", "--cluster=12345", "--replica=1", "--replica-count=3", "--preset=test", path}, &out, &out); code != 0 {
		t.Fatalf("format: %s", out.String())
	}
	return path
}

func TestInspectFormattedFile(t *testing.T) {
	path := formatTestFile(t)
	var out, errOut bytes.Buffer
	if code := run([]string{"inspect", path}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, want := range []string{
		"superblock: sequence 1",
		"copy 3: valid, sequence 1",
		"cluster 0x3039, replica 1 of 3",
		"view 0, log_view 0 (log head op 0), commit_min 0, commit_max 0",
		"checkpoint: op 0",
		"wal_prepares",
		"grid                   4227072",
		"op_max 0, 0 ops to repair",
		"1-63 reserved (63 slots)",
		"grid: 0 of 1024 blocks acquired",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestInspectShowsDamage(t *testing.T) {
	path := formatTestFile(t)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Rot superblock copy 2 and the redundant header of slot 0.
	f.WriteAt([]byte{0xff}, 2*journal.SectorSize+200)
	f.WriteAt([]byte{0xff}, 4*journal.SectorSize+100)
	f.Close()
	var out, errOut bytes.Buffer
	if code := run([]string{"inspect", "--slots=problems", path}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, want := range []string{"copy 2: invalid", "header_corrupt", "fix"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "reserved (") {
		t.Errorf("--slots=problems listed reserved slots:\n%s", out.String())
	}
}

func TestInspectRejectsForeignAndCorrupt(t *testing.T) {
	dir := t.TempDir()
	foreign := filepath.Join(dir, "foreign")
	os.WriteFile(foreign, bytes.Repeat([]byte("hello world\n"), 10000), 0o644)
	var out, errOut bytes.Buffer
	if code := run([]string{"inspect", foreign}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "not a chronon data file") {
		t.Fatalf("foreign: exit %d, %s", code, errOut.String())
	}
	path := formatTestFile(t)
	f, _ := os.OpenFile(path, os.O_RDWR, 0)
	for i := int64(0); i < 3; i++ {
		f.WriteAt([]byte{0xff}, i*journal.SectorSize+100)
	}
	f.Close()
	errOut.Reset()
	if code := run([]string{"inspect", path}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "no valid superblock quorum") {
		t.Fatalf("corrupt: exit %d, %s", code, errOut.String())
	}
	errOut.Reset()
	if code := run([]string{"inspect", filepath.Join(dir, "missing")}, &out, &errOut); code != 1 {
		t.Fatalf("missing: exit %d", code)
	}
	if code := run([]string{"inspect"}, &out, &errOut); code != 2 {
		t.Fatalf("no path: exit %d", code)
	}
}

func TestInspectShowsOpsAndCheckpoint(t *testing.T) {
	path := formatTestFile(t)
	f, err := journal.OpenFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	j, err := journal.Open(f)
	if err != nil {
		t.Fatal(err)
	}
	parent := wire.RootPrepare(wire.Uint128{Lo: 12345}).Checksum
	var sums [4]wire.Uint128
	for op := uint64(1); op <= 3; op++ {
		msg := wire.AlignedSlice(wire.MessageSizeMaxTest)
		h := wire.Header{Cluster: wire.Uint128{Lo: 12345}, Parent: parent, Op: op, Commit: op - 1, Timestamp: op,
			Size: wire.HeaderSize + 100, View: 2, Protocol: wire.ProtocolVersion, Command: wire.CommandPrepare,
			Operation: wire.OperationUserMin}
		h.Encode(msg)
		wire.Seal(&h, msg[:h.Size])
		if err := j.WritePrepare(msg); err != nil {
			t.Fatal(err)
		}
		parent, sums[op] = h.Checksum, h.Checksum
	}
	if err := j.Checkpoint(2, sums[2], journal.CheckpointData{State: bytes.Repeat([]byte{1}, 20000)}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var out, errOut bytes.Buffer
	if code := run([]string{"inspect", path}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, want := range []string{"op_max 3", "ok=4", "reserved=60", "4-63 reserved (60 slots)",
		"checkpoint: op 2, prepare checksum " + sums[2].String(), "state            address", "20000 bytes",
		"grid: 6 of 1024 blocks acquired", "20000 bytes in 3 data blocks (1 segments), 1 index blocks", "all blocks verify", "view 0"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
