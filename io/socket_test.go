package io

import (
	"bytes"
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

func TestSendRecvAndEOF(t *testing.T) {
	forEachBackend(t, 64, func(t *testing.T, io *IO) {
		client, server := connectPair(t, io, false)
		closeFdLater(t, server)
		msg := bytes.Repeat([]byte("chronon!"), 32) // 256 B
		sc, so := newOp()
		if err := io.Send(sc, client, msg); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, 0, len(msg))
		buf := make([]byte, 1000)
		for len(got) < len(msg) {
			rc, ro := newOp()
			if err := io.Recv(rc, server, buf); err != nil {
				t.Fatal(err)
			}
			runUntil(t, io, func() bool { return ro.done })
			if ro.err != nil || ro.n <= 0 {
				t.Fatalf("recv: n=%d err=%v", ro.n, ro.err)
			}
			got = append(got, buf[:ro.n]...)
		}
		runUntil(t, io, func() bool { return so.done })
		if so.err != nil || so.n != len(msg) || !bytes.Equal(got, msg) {
			t.Fatalf("send n=%d err=%v; received %q", so.n, so.err, got)
		}

		// A Recv pending when the peer closes completes with 0 bytes: EOF.
		rc, ro := newOp()
		if err := io.Recv(rc, server, buf); err != nil {
			t.Fatal(err)
		}
		if err := io.Tick(); err != nil {
			t.Fatal(err)
		}
		cc, co := newOp()
		if err := io.CloseFd(cc, client); err != nil {
			t.Fatal(err)
		}
		runUntil(t, io, func() bool { return ro.done && co.done })
		if co.err != nil {
			t.Fatalf("close: %v", co.err)
		}
		if ro.err != nil || ro.n != 0 {
			t.Fatalf("recv after peer close: n=%d err=%v, want EOF (0, nil)", ro.n, ro.err)
		}
	})
}

func TestPeerReset(t *testing.T) {
	forEachBackend(t, 64, func(t *testing.T, io *IO) {
		client, server := connectPair(t, io, false)
		closeFdLater(t, server)
		rc, ro := newOp()
		if err := io.Recv(rc, server, make([]byte, 64)); err != nil {
			t.Fatal(err)
		}
		if err := io.Tick(); err != nil {
			t.Fatal(err)
		}
		// SO_LINGER with a zero timeout makes close send RST.
		if err := unix.SetsockoptLinger(client, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0}); err != nil {
			t.Fatal(err)
		}
		unix.Close(client)
		runUntil(t, io, func() bool { return ro.done })
		if !errors.Is(ro.err, unix.ECONNRESET) {
			t.Fatalf("recv after peer reset: n=%d err=%v, want ECONNRESET", ro.n, ro.err)
		}
		// Sending on the reset connection fails too (EPIPE or ECONNRESET), without SIGPIPE.
		sc, so := newOp()
		if err := io.Send(sc, server, []byte("x")); err != nil {
			t.Fatal(err)
		}
		runUntil(t, io, func() bool { return so.done })
		if !errors.Is(so.err, unix.EPIPE) && !errors.Is(so.err, unix.ECONNRESET) {
			t.Fatalf("send after reset: n=%d err=%v", so.n, so.err)
		}
	})
}

func TestConnectRefused(t *testing.T) {
	forEachBackend(t, 8, func(t *testing.T, io *IO) {
		// Bind without listening: connecting to it is refused.
		fd, err := io.OpenSocket(unix.AF_INET, unix.SOCK_STREAM, 0)
		if err != nil {
			t.Fatal(err)
		}
		closeFdLater(t, fd)
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			t.Fatal(err)
		}
		sa, _ := unix.Getsockname(fd)
		cfd, err := io.OpenSocket(unix.AF_INET, unix.SOCK_STREAM, 0)
		if err != nil {
			t.Fatal(err)
		}
		closeFdLater(t, cfd)
		c, o := newOp()
		if err := io.Connect(c, cfd, sa); err != nil {
			t.Fatal(err)
		}
		runUntil(t, io, func() bool { return o.done })
		if !errors.Is(o.err, unix.ECONNREFUSED) {
			t.Fatalf("connect to a closed port: %v, want ECONNREFUSED", o.err)
		}
	})
}

func TestCloseFdCancelsPendingOps(t *testing.T) {
	forEachBackend(t, 16, func(t *testing.T, io *IO) {
		client, server := connectPair(t, io, false)
		closeFdLater(t, client)
		lfd, _ := listen(t, io)
		rc, ro := newOp()
		if err := io.Recv(rc, server, make([]byte, 64)); err != nil {
			t.Fatal(err)
		}
		ac, ao := newOp()
		if err := io.Accept(ac, lfd); err != nil {
			t.Fatal(err)
		}
		if err := io.Tick(); err != nil {
			t.Fatal(err)
		}
		cc, co := newOp()
		if err := io.CloseFd(cc, server); err != nil {
			t.Fatal(err)
		}
		runUntil(t, io, func() bool { return ro.done && co.done })
		if !errors.Is(ro.err, ErrCanceled) {
			t.Fatalf("recv pending on a closed fd: n=%d err=%v, want ErrCanceled", ro.n, ro.err)
		}
		if co.err != nil {
			t.Fatalf("close: %v", co.err)
		}
		if ao.done {
			t.Fatalf("accept on another fd was disturbed: %+v", *ao)
		}
		// Close a descriptor that is not open: EBADF.
		bc, bo := newOp()
		if err := io.CloseFd(bc, server); err != nil {
			t.Fatal(err)
		}
		runUntil(t, io, func() bool { return bo.done })
		if !errors.Is(bo.err, unix.EBADF) {
			t.Fatalf("closing a closed fd: %v, want EBADF", bo.err)
		}
	})
}

func TestManyConnections(t *testing.T) {
	conns := 64
	if testing.Short() {
		conns = 16
	}
	forEachBackend(t, 4*conns, func(t *testing.T, io *IO) {
		lfd, addr := listen(t, io)
		type conn struct {
			client, server int
			out, in        []byte
		}
		cs := make([]conn, conns)
		accepts := make([]outcome, conns)
		connects := make([]outcome, conns)
		ops := make([]Completion, 2*conns)
		for i := range cs {
			fd, err := io.OpenSocket(unix.AF_INET, unix.SOCK_STREAM, 0)
			if err != nil {
				t.Fatal(err)
			}
			closeFdLater(t, fd)
			cs[i].client = fd
			ops[i] = Completion{Callback: record, Context: &accepts[i]}
			ops[conns+i] = Completion{Callback: record, Context: &connects[i]}
			if err := io.Accept(&ops[i], lfd); err != nil {
				t.Fatal(err)
			}
			if err := io.Connect(&ops[conns+i], fd, addr); err != nil {
				t.Fatal(err)
			}
		}
		allDone := func(os []outcome) func() bool {
			return func() bool {
				for i := range os {
					if !os[i].done {
						return false
					}
				}
				return true
			}
		}
		runUntil(t, io, allDone(accepts))
		runUntil(t, io, allDone(connects))
		// Accepted connections arrive in an unspecified order; pair by port.
		byPort := map[int]int{}
		for i := range cs {
			if accepts[i].err != nil || connects[i].err != nil {
				t.Fatalf("conn %d: accept %v connect %v", i, accepts[i].err, connects[i].err)
			}
			closeFdLater(t, accepts[i].n)
			sa, err := unix.Getpeername(accepts[i].n)
			if err != nil {
				t.Fatal(err)
			}
			byPort[sa.(*unix.SockaddrInet4).Port] = accepts[i].n
		}
		for i := range cs {
			sa, _ := unix.Getsockname(cs[i].client)
			cs[i].server = byPort[sa.(*unix.SockaddrInet4).Port]
			cs[i].out = bytes.Repeat([]byte{byte(i)}, 100+i)
			cs[i].in = make([]byte, len(cs[i].out))
		}
		// One send and one recv per connection, all in flight together.
		sends := make([]outcome, conns)
		recvs := make([]outcome, conns)
		for i := range cs {
			ops[i] = Completion{Callback: record, Context: &sends[i]}
			ops[conns+i] = Completion{Callback: record, Context: &recvs[i]}
			if err := io.Recv(&ops[conns+i], cs[i].server, cs[i].in); err != nil {
				t.Fatal(err)
			}
			if err := io.Send(&ops[i], cs[i].client, cs[i].out); err != nil {
				t.Fatal(err)
			}
		}
		runUntil(t, io, allDone(sends))
		runUntil(t, io, allDone(recvs))
		for i := range cs {
			if sends[i].err != nil || sends[i].n != len(cs[i].out) {
				t.Fatalf("send %d: %+v", i, sends[i])
			}
			// Loopback delivers a small message in one segment; a short recv
			// is legal but would be a surprise here.
			if recvs[i].err != nil || recvs[i].n != len(cs[i].in) || !bytes.Equal(cs[i].in, cs[i].out) {
				t.Fatalf("recv %d: %+v", i, recvs[i])
			}
		}
	})
}

// TestSendNonBlocking: a short message goes out whole on a fresh socket;
// with the peer not reading, sends fail with EAGAIN instead of blocking, on
// either backend's sockets (io_uring's are in blocking mode); a successful
// send does not allocate.
func TestSendNonBlocking(t *testing.T) {
	forEachBackend(t, 64, func(t *testing.T, io *IO) {
		client, server := connectPair(t, io, true)
		msg := bytes.Repeat([]byte("refused!"), 32) // 256 B
		if n, err := SendNonBlocking(server, msg); n != len(msg) || err != nil {
			t.Fatalf("SendNonBlocking = %d, %v; want %d, nil", n, err, len(msg))
		}
		got := make([]byte, 0, len(msg))
		buf := make([]byte, 1000)
		for len(got) < len(msg) {
			rc, ro := newOp()
			if err := io.Recv(rc, client, buf); err != nil {
				t.Fatal(err)
			}
			runUntil(t, io, func() bool { return ro.done })
			if ro.err != nil || ro.n <= 0 {
				t.Fatalf("recv: n=%d err=%v", ro.n, ro.err)
			}
			got = append(got, buf[:ro.n]...)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("received %q", got)
		}
		if testing.CoverMode() == "" {
			if allocs := testing.AllocsPerRun(50, func() { _, _ = SendNonBlocking(server, msg) }); allocs != 0 {
				t.Errorf("%.1f allocations per send, want 0", allocs)
			}
		}

		// Nobody reads: the buffers fill and a send fails at once.
		if err := unix.SetsockoptInt(server, unix.SOL_SOCKET, unix.SO_SNDBUF, 4096); err != nil {
			t.Fatal(err)
		}
		big := make([]byte, 64<<10)
		var err error
		for i := 0; i < 10_000 && err == nil; i++ {
			_, err = SendNonBlocking(server, big)
		}
		if !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EWOULDBLOCK) {
			t.Fatalf("send into full buffers: %v, want EAGAIN", err)
		}
	})
	if _, err := SendNonBlocking(-1, []byte{1}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("SendNonBlocking(-1): %v, want ErrInvalid", err)
	}
}
