//go:build linux

package journal

import (
	"errors"
	"log/slog"
	"path/filepath"
	"testing"

	cio "github.com/chronon-db/chronon/io"
)

// TestIOStorageFormatWriteCheckpointReopen runs the journal over a real
// O_DIRECT data file through the io event loop, on both backends: format,
// prepares that wrap the ring, a checkpoint, and a reopen that recovers it
// all.
func TestIOStorageFormatWriteCheckpointReopen(t *testing.T) {
	for _, backend := range []cio.Backend{cio.BackendIOUring, cio.BackendFallback} {
		t.Run(backend.String(), func(t *testing.T) {
			ioq, err := cio.New(cio.Options{Entries: 32, Backend: backend, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			defer ioq.Close()
			l, _ := NewLayout(ConfigTest)
			path := filepath.Join(t.TempDir(), "replica.chronon")
			open := func() (*cio.File, *IOStorage) {
				f, err := cio.OpenDataFile(path, cio.FileOptions{Size: int64(l.Size)})
				if err != nil {
					t.Fatal(err)
				}
				return f, NewIOStorage(ioq, f, l.Size, 8)
			}
			f, s := open()
			if err := Format(s, testFormatOptions()); err != nil {
				t.Fatal(err)
			}
			j := mustOpen(t, s)
			c := newChain(ConfigTest, 70, bodyVaried)
			for op := 1; op <= 60; op++ {
				if err := j.WritePrepare(c.msgs[op]); err != nil {
					t.Fatal(err)
				}
			}
			if err := j.Checkpoint(50, c.sums[50], CheckpointData{State: blob(1, 40000), Sessions: blob(2, 300)}); err != nil {
				t.Fatal(err)
			}
			for op := 61; op <= 70; op++ {
				if err := j.WritePrepare(c.msgs[op]); err != nil {
					t.Fatal(err)
				}
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			f, s = open()
			defer f.Close()
			j = mustOpen(t, s)
			r := j.Report()
			if r.OpCheckpoint != 50 || r.OpMax != 70 || len(r.Repair) != 0 || r.ChainBreak != 0 {
				t.Fatalf("report: cp %d opmax %d repair %v break %d", r.OpCheckpoint, r.OpMax, r.Repair, r.ChainBreak)
			}
			for op := 51; op <= 70; op++ {
				if _, err := j.ReadPrepare(uint64(op), c.sums[op]); err != nil {
					t.Fatalf("op %d: %v", op, err)
				}
			}
			got, err := j.ReadCheckpoint(CheckpointData{})
			if err != nil || string(got.State) != string(blob(1, 40000)) || string(got.Sessions) != string(blob(2, 300)) {
				t.Fatalf("checkpoint: %v", err)
			}
		})
	}
}

// TestIOStorageReportsErrors reads past the end of a file that is shorter
// than the storage claims: the callback gets an error wrapping ErrIO, not a
// hang or a panic.
func TestIOStorageReportsErrors(t *testing.T) {
	ioq, err := cio.New(cio.Options{Entries: 8, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer ioq.Close()
	f, err := cio.OpenDataFile(filepath.Join(t.TempDir(), "short"), cio.FileOptions{Size: SectorSize})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := NewIOStorage(ioq, f, 4*SectorSize, 2)
	buf := alignedBuffer(SectorSize)
	var got []error
	for i := 0; i < 3; i++ { // the third finds no free operation record
		s.Read(buf, 2*SectorSize, func(err error) { got = append(got, err) })
	}
	for len(got) < 3 {
		s.Tick()
	}
	for i, err := range got {
		if !errors.Is(err, ErrIO) {
			t.Fatalf("read %d: %v", i, err)
		}
	}
}
