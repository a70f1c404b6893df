//go:build linux

package journal

import (
	"errors"
	"path/filepath"
	"testing"
)

func TestFileStorageFormatOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "replica.chronon")
	l, _ := NewLayout(ConfigTest)
	f, err := CreateFile(path, l.Size)
	if err != nil {
		t.Fatal(err)
	}
	if err := Format(f, testFormatOptions()); err != nil {
		t.Fatal(err)
	}
	if _, err := CreateFile(path, l.Size); !errors.Is(err, ErrExists) {
		t.Fatalf("second create: %v", err)
	}
	if _, err := OpenFile(path, false); err == nil {
		t.Fatal("second exclusive open succeeded while locked")
	}
	j := mustOpen(t, f)
	c := newChain(ConfigTest, 70, bodyVaried)
	for op := 1; op <= 60; op++ {
		if err := j.WritePrepare(c.msgs[op]); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Checkpoint(50, c.sums[50], CheckpointData{State: blob(1, 40000)}); err != nil {
		t.Fatal(err)
	}
	for op := 61; op <= 70; op++ { // wraps the ring
		if err := j.WritePrepare(c.msgs[op]); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	f, err = OpenFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	j = mustOpen(t, f)
	r := j.Report()
	if r.OpCheckpoint != 50 || r.OpMax != 70 || len(r.Repair) != 0 || r.ChainBreak != 0 {
		t.Fatalf("report: cp %d opmax %d repair %v break %d", r.OpCheckpoint, r.OpMax, r.Repair, r.ChainBreak)
	}
	if _, err := j.ReadPrepare(65, c.sums[65]); err != nil {
		t.Fatal(err)
	}
	if got, err := j.ReadCheckpoint(CheckpointData{}); err != nil || len(got.State) != 40000 {
		t.Fatalf("checkpoint: %v", err)
	}
}

func TestFileStorageUnalignedPanics(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	f, err := CreateFile(path, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	defer func() {
		if recover() == nil {
			t.Fatal("unaligned write did not panic")
		}
	}()
	f.Write(alignedBuffer(SectorSize)[:512], 0, func(error) {})
}
