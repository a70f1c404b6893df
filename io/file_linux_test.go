package io

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestOpenDataFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "replica.chronon")
	const size = 1 << 20
	f, err := OpenDataFile(path, FileOptions{Size: size})
	if err != nil {
		t.Fatal(err)
	}
	if !f.Created || !f.Direct {
		t.Errorf("created %v direct %v", f.Created, f.Direct)
	}
	var st unix.Stat_t
	if err := unix.Fstat(f.Fd, &st); err != nil {
		t.Fatal(err)
	}
	if st.Size != size || st.Blocks*512 < size {
		t.Errorf("size %d, allocated %d bytes; want %d preallocated", st.Size, st.Blocks*512, size)
	}
	if fl, _ := unix.FcntlInt(uintptr(f.Fd), unix.F_GETFL, 0); fl&unix.O_DIRECT == 0 {
		t.Errorf("O_DIRECT not set: flags %#x", fl)
	}

	// A second open, even in this process, is refused while the first holds it.
	if _, err := OpenDataFile(path, FileOptions{}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	f, err = OpenDataFile(path, FileOptions{Size: size / 2})
	if err != nil {
		t.Fatalf("reopen after close: %v", err)
	}
	defer f.Close()
	if f.Created {
		t.Error("reopen says created")
	}
	if n, err := f.Size(); err != nil || n != size {
		t.Errorf("reopen with a smaller Size: size %d (%v), must not shrink", n, err)
	}

	if _, err := OpenDataFile(filepath.Join(dir, "missing", "x"), FileOptions{}); !errors.Is(err, unix.ENOENT) {
		t.Errorf("open in a missing directory: %v, want ENOENT", err)
	}
	if _, err := OpenDataFile(filepath.Join(dir, "neg"), FileOptions{Size: -1}); !errors.Is(err, ErrInvalid) {
		t.Errorf("negative size: %v", err)
	}
}

// TestDataFileOnTmpfs: tmpfs refused O_DIRECT before Linux 6.6 and accepts it
// since; either way the outcome must be one of the documented ones.
func TestDataFileOnTmpfs(t *testing.T) {
	if _, err := os.Stat("/dev/shm"); err != nil {
		t.Skip("no /dev/shm")
	}
	dir, err := os.MkdirTemp("/dev/shm", "chronon-io-test")
	if err != nil {
		t.Skip(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "data")
	f, err := OpenDataFile(path, FileOptions{Size: 1 << 16})
	switch {
	case errors.Is(err, ErrDirectIOUnsupported):
		if _, statErr := os.Stat(path); statErr == nil {
			t.Error("refused open left a file behind")
		}
		f, err = OpenDataFile(path, FileOptions{Size: 1 << 16, AllowDsync: true})
		if err != nil {
			t.Fatalf("AllowDsync: %v", err)
		}
		if f.Direct {
			t.Error("O_DSYNC fallback reports Direct")
		}
		fl, _ := unix.FcntlInt(uintptr(f.Fd), unix.F_GETFL, 0)
		if fl&unix.O_DSYNC == 0 {
			t.Errorf("O_DSYNC not set: %#x", fl)
		}
		f.Close()
	case err != nil:
		t.Fatalf("open on tmpfs: %v", err)
	default:
		t.Logf("this kernel's tmpfs accepts O_DIRECT (direct=%v)", f.Direct)
		f.Close()
	}
}

func TestDirectIORefusedClassification(t *testing.T) {
	if !directIORefused(unix.EINVAL) || directIORefused(unix.ENOENT) || directIORefused(unix.EACCES) {
		t.Error("only EINVAL from open(O_DIRECT) means O_DIRECT is refused")
	}
}

// OpenDataFile accepts only regular files and block devices: IO.ReadFile and
// IO.WriteFile may block the loop on them, which on a FIFO could hang it.
func TestOpenDataFileRefusesFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fifo")
	if err := unix.Mkfifo(path, 0o600); err != nil {
		t.Skip(err)
	}
	f, err := OpenDataFile(path, FileOptions{AllowDsync: true})
	if err == nil {
		f.Close()
		t.Fatal("OpenDataFile opened a FIFO")
	}
	if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrDirectIOUnsupported) {
		t.Fatalf("FIFO: %v, want ErrInvalid", err)
	}
	if _, statErr := os.Stat(path); statErr != nil {
		t.Errorf("refused open removed the FIFO: %v", statErr)
	}
}
