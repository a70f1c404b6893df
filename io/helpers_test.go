package io

import (
	"errors"
	stdio "io"
	"log/slog"
	"os"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var backends = []Backend{BackendIOUring, BackendFallback}

var quietLogger = slog.New(slog.NewTextHandler(stdio.Discard, nil))

// newTestIO starts an IO on backend b, closed at the end of the test. io_uring
// is skipped only where the kernel refuses it and CHRONON_IO_REQUIRE_URING is
// not set.
func newTestIO(t testing.TB, b Backend, entries int) *IO {
	t.Helper()
	io, err := New(Options{Entries: entries, Backend: b, Logger: quietLogger})
	if err != nil {
		if b == BackendIOUring && errors.Is(err, ErrBackendUnavailable) &&
			(runtime.GOOS != "linux" || os.Getenv("CHRONON_IO_REQUIRE_URING") == "") {
			t.Skipf("io_uring unavailable: %v", err)
		}
		t.Fatalf("New(%v): %v", b, err)
	}
	t.Cleanup(func() {
		if err := io.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return io
}

// forEachBackend runs fn as a subtest on each backend.
func forEachBackend(t *testing.T, entries int, fn func(t *testing.T, io *IO)) {
	for _, b := range backends {
		t.Run(b.String(), func(t *testing.T) { fn(t, newTestIO(t, b, entries)) })
	}
}

// outcome records what a callback saw.
type outcome struct {
	done  bool
	calls int
	n     int
	err   error
	seq   int // global completion order
}

var seq int

func record(c *Completion) {
	o := c.Context.(*outcome)
	o.done, o.n, o.err = true, c.Result, c.Err
	o.calls++
	seq++
	o.seq = seq
}

// newOp returns a Completion recording into a fresh outcome.
func newOp() (*Completion, *outcome) {
	o := new(outcome)
	return &Completion{Callback: record, Context: o}, o
}

// runUntil runs the loop until cond holds, failing the test after 5 s.
func runUntil(t testing.TB, io *IO, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not reached within 5s (in flight %d)", io.InFlight())
		}
		if _, err := io.Wait(int64(10 * time.Millisecond)); err != nil {
			t.Fatalf("Wait: %v", err)
		}
	}
}

func closeFdLater(t testing.TB, fd int) {
	t.Cleanup(func() { unix.Close(fd) })
}

// listen opens a loopback listener and returns it and its address.
func listen(t testing.TB, io *IO) (int, *unix.SockaddrInet4) {
	t.Helper()
	fd, err := io.OpenSocket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	closeFdLater(t, fd)
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 512); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return fd, sa.(*unix.SockaddrInet4)
}

// connectPair returns a connected (client, server) pair made with Connect and
// Accept on io. The caller owns both descriptors unless own is true.
func connectPair(t testing.TB, io *IO, own bool) (client, server int) {
	t.Helper()
	lfd, addr := listen(t, io)
	cfd, err := io.OpenSocket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	ac, ao := newOp()
	cc, co := newOp()
	if err := io.Accept(ac, lfd); err != nil {
		t.Fatal(err)
	}
	if err := io.Connect(cc, cfd, addr); err != nil {
		t.Fatal(err)
	}
	runUntil(t, io, func() bool { return ao.done && co.done })
	if ao.err != nil || co.err != nil {
		t.Fatalf("accept: %v, connect: %v", ao.err, co.err)
	}
	if ao.n <= 0 {
		t.Fatalf("accept returned fd %d", ao.n)
	}
	if err := unix.SetsockoptInt(cfd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
		t.Fatal(err)
	}
	if own {
		closeFdLater(t, cfd)
		closeFdLater(t, ao.n)
	}
	return cfd, ao.n
}
