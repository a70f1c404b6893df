package io

import (
	"bytes"
	"errors"
	"path/filepath"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

func openTestFile(t testing.TB, size int64) *File {
	t.Helper()
	f, err := OpenDataFile(filepath.Join(t.TempDir(), "data"), FileOptions{Size: size, AllowDsync: runtime.GOOS != "linux"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestFileWriteSyncRead(t *testing.T) {
	forEachBackend(t, 64, func(t *testing.T, io *IO) {
		const size = 1 << 20
		f := openTestFile(t, size)
		if !f.Direct && runtime.GOOS == "linux" {
			t.Fatalf("expected O_DIRECT on a temp dir")
		}
		w := AlignedBuffer(2 * SectorSize)
		for i := range w {
			w[i] = byte(i*7 + 1)
		}
		wc, wo := newOp()
		if err := io.WriteFile(wc, f, w, 3*SectorSize); err != nil {
			t.Fatal(err)
		}
		if wo.done {
			t.Fatal("callback ran inline from WriteFile")
		}
		runUntil(t, io, func() bool { return wo.done })
		if wo.err != nil || wo.n != len(w) {
			t.Fatalf("write: n=%d err=%v", wo.n, wo.err)
		}
		for _, sync := range []func(*Completion, int) error{io.Fsync, io.Fdatasync} {
			sc, so := newOp()
			if err := sync(sc, f.Fd); err != nil {
				t.Fatal(err)
			}
			runUntil(t, io, func() bool { return so.done })
			if so.err != nil || so.n != 0 {
				t.Fatalf("sync: n=%d err=%v", so.n, so.err)
			}
		}
		r := AlignedBuffer(2 * SectorSize)
		rc, ro := newOp()
		if err := io.ReadFile(rc, f, r, 3*SectorSize); err != nil {
			t.Fatal(err)
		}
		runUntil(t, io, func() bool { return ro.done })
		if ro.err != nil || ro.n != len(r) || !bytes.Equal(r, w) {
			t.Fatalf("read back: n=%d err=%v equal=%v", ro.n, ro.err, bytes.Equal(r, w))
		}

		// Short read at the end of the file, then 0 at and past the end,
		// through ReadFile and through Read on the raw descriptor.
		for _, c := range []struct {
			off  int64
			want int
		}{{size - SectorSize, SectorSize}, {size, 0}, {size + 4*SectorSize, 0}} {
			for _, raw := range []bool{false, true} {
				rc, ro := newOp()
				var err error
				if raw {
					err = io.Read(rc, f.Fd, r, c.off)
				} else {
					err = io.ReadFile(rc, f, r, c.off)
				}
				if err != nil {
					t.Fatal(err)
				}
				runUntil(t, io, func() bool { return ro.done })
				if ro.err != nil || ro.n != c.want {
					t.Errorf("read (raw %v) at %d: n=%d err=%v, want n=%d", raw, c.off, ro.n, ro.err, c.want)
				}
			}
		}

		// A durable write, and Write on the raw descriptor, read back.
		for i := range w {
			w[i] = byte(i*3 + 5)
		}
		dc, do := newOp()
		must(t, io.WriteDurable(dc, f, w[:SectorSize], 5*SectorSize))
		wc, wo = newOp()
		must(t, io.Write(wc, f.Fd, w[SectorSize:], 6*SectorSize))
		runUntil(t, io, func() bool { return do.done && wo.done })
		if do.err != nil || do.n != SectorSize || wo.err != nil || wo.n != SectorSize {
			t.Fatalf("durable write: n=%d err=%v; write: n=%d err=%v", do.n, do.err, wo.n, wo.err)
		}
		if got, err := dc.Operation(), OpWriteDurable; got != err {
			t.Errorf("Operation() = %v, want %v", got, err)
		}
		rc, ro = newOp()
		must(t, io.ReadFile(rc, f, r, 5*SectorSize))
		runUntil(t, io, func() bool { return ro.done })
		if ro.err != nil || ro.n != len(r) || !bytes.Equal(r, w) {
			t.Fatalf("read back durable write: n=%d err=%v equal=%v", ro.n, ro.err, bytes.Equal(r, w))
		}
	})
}

func TestFileErrors(t *testing.T) {
	forEachBackend(t, 64, func(t *testing.T, io *IO) {
		f := openTestFile(t, 1<<16)
		// Misaligned O_DIRECT buffer: the kernel says EINVAL.
		buf := AlignedBuffer(2 * SectorSize)
		wc, wo := newOp()
		if err := io.WriteFile(wc, f, buf[1:SectorSize+1], 0); err != nil {
			t.Fatal(err)
		}
		dc, do := newOp()
		if err := io.WriteDurable(dc, f, buf[1:SectorSize+1], 0); err != nil {
			t.Fatal(err)
		}
		// A descriptor that is not open.
		fd, err := unix.Open("/dev/null", unix.O_RDONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		unix.Close(fd)
		sc, so := newOp()
		if err := io.Fsync(sc, fd); err != nil {
			t.Fatal(err)
		}
		runUntil(t, io, func() bool { return wo.done && do.done && so.done })
		if !errors.Is(wo.err, unix.EINVAL) {
			t.Errorf("misaligned write: %v, want EINVAL", wo.err)
		}
		if !errors.Is(do.err, unix.EINVAL) || do.n != 0 {
			t.Errorf("misaligned durable write: n=%d %v, want EINVAL", do.n, do.err)
		}
		if !errors.Is(so.err, unix.EBADF) {
			t.Errorf("fsync of closed fd: %v, want EBADF", so.err)
		}
		var oe *OpError
		if !errors.As(so.err, &oe) || oe.Op != OpFsync || oe.Fd != fd {
			t.Errorf("fsync error %#v is not an *OpError for fsync fd %d", so.err, fd)
		}
		if so.n != 0 {
			t.Errorf("failed fsync Result %d", so.n)
		}
	})
}

func TestManyConcurrentFileOps(t *testing.T) {
	const n = 512
	forEachBackend(t, n, func(t *testing.T, io *IO) {
		f := openTestFile(t, n*SectorSize)
		bufs := AlignedBuffer(n * SectorSize)
		ops := make([]Completion, n)
		outs := make([]outcome, n)
		for i := range n {
			b := bufs[i*SectorSize : (i+1)*SectorSize]
			for j := range b {
				b[j] = byte(i + j)
			}
			ops[i] = Completion{Callback: record, Context: &outs[i]}
			if err := io.WriteFile(&ops[i], f, b, int64(i)*SectorSize); err != nil {
				t.Fatalf("write %d: %v", i, err)
			}
		}
		// The fallback finishes file operations at submission.
		if io.Backend() == BackendIOUring && io.InFlight() != n {
			t.Fatalf("in flight %d, want %d", io.InFlight(), n)
		}
		all := func() bool {
			for i := range outs {
				if !outs[i].done {
					return false
				}
			}
			return true
		}
		runUntil(t, io, all)
		for i := range outs {
			if outs[i].err != nil || outs[i].n != SectorSize || outs[i].calls != 1 {
				t.Fatalf("write %d: %+v", i, outs[i])
			}
			outs[i] = outcome{}
		}
		got := AlignedBuffer(n * SectorSize)
		for i := range n {
			if err := io.ReadFile(&ops[i], f, got[i*SectorSize:(i+1)*SectorSize], int64(i)*SectorSize); err != nil {
				t.Fatalf("read %d: %v", i, err)
			}
		}
		runUntil(t, io, all)
		if !bytes.Equal(got, bufs) {
			t.Fatal("read back differs from what was written")
		}
		if io.InFlight() != 0 {
			t.Fatalf("in flight %d after all completions", io.InFlight())
		}
	})
}
