package io

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestResolveTCP(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		in, want string
		ipv6     bool
	}{
		{"127.0.0.1:3000", "127.0.0.1:3000", false},
		{"0.0.0.0:0", "0.0.0.0:0", false},
		{"[::1]:3001", "[::1]:3001", true},
		{"[::ffff:10.1.2.3]:80", "10.1.2.3:80", false}, // IPv4-mapped: IPv4
		{"[2001:db8::7]:65535", "[2001:db8::7]:65535", true},
	} {
		a, err := ResolveTCP(ctx, tc.in)
		if err != nil {
			t.Fatalf("ResolveTCP(%q): %v", tc.in, err)
		}
		if a.String() != tc.want || a.IsIPv6() != tc.ipv6 {
			t.Errorf("ResolveTCP(%q) = %s (IPv6 %v), want %s (IPv6 %v)", tc.in, a, a.IsIPv6(), tc.want, tc.ipv6)
		}
	}
	if a, err := ResolveTCP(ctx, "localhost:7"); err != nil || a.Port() != 7 {
		t.Errorf("ResolveTCP(localhost:7) = %v, %v", a, err)
	}
	for _, bad := range []string{"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:x", "127.0.0.1:65536", "127.0.0.1:-1", "[::1:80"} {
		if _, err := ResolveTCP(ctx, bad); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "address") {
			t.Errorf("ResolveTCP(%q): %v, want ErrInvalid naming the address", bad, err)
		}
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := ResolveTCP(canceled, "name.invalid:1"); err == nil || errors.Is(err, ErrInvalid) {
		t.Errorf("ResolveTCP of a name with a canceled context: %v, want a resolver error", err)
	}
	var zero TCPAddr
	if zero.String() != "invalid" || zero.Port() != 0 || zero.IsIPv6() {
		t.Errorf("zero TCPAddr: %s port %d", zero, zero.Port())
	}
}

// listenLoopback listens on the loopback address of the given family on a
// free port, skipping the test if the host has no IPv6 loopback.
func listenLoopback(t *testing.T, io *IO, ipv6 bool) (int, TCPAddr) {
	t.Helper()
	address := "127.0.0.1:0"
	if ipv6 {
		address = "[::1]:0"
	}
	a, err := ResolveTCP(context.Background(), address)
	if err != nil {
		t.Fatal(err)
	}
	lfd, err := io.ListenTCP(a, 0)
	if ipv6 && (errors.Is(err, unix.EADDRNOTAVAIL) || errors.Is(err, unix.EAFNOSUPPORT)) {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	closeFdLater(t, lfd)
	bound, err := LocalTCPAddr(lfd)
	if err != nil {
		t.Fatal(err)
	}
	if bound.Port() == 0 || bound.IsIPv6() != ipv6 {
		t.Fatalf("listener bound to %s", bound)
	}
	return lfd, bound
}

func TestListenDialTCP(t *testing.T) {
	forEachBackend(t, 16, func(t *testing.T, io *IO) {
		for _, ipv6 := range []bool{false, true} {
			name := "ipv4"
			if ipv6 {
				name = "ipv6"
			}
			t.Run(name, func(t *testing.T) {
				lfd, addr := listenLoopback(t, io, ipv6)
				ac, ao := newOp()
				if err := io.Accept(ac, lfd); err != nil {
					t.Fatal(err)
				}
				dc, do := newOp()
				cfd, err := io.DialTCP(dc, addr)
				if err != nil {
					t.Fatal(err)
				}
				runUntil(t, io, func() bool { return ao.done && do.done })
				if ao.err != nil || do.err != nil {
					t.Fatalf("accept: %v, connect: %v", ao.err, do.err)
				}
				sfd := ao.n
				closeFdLater(t, sfd)
				local, err := LocalTCPAddr(cfd)
				if err != nil {
					t.Fatal(err)
				}
				remote, err := RemoteTCPAddr(sfd)
				if err != nil || remote.String() != local.String() || remote.IP() != local.IP() || remote.IP().Is6() != ipv6 {
					t.Fatalf("RemoteTCPAddr of the accepted socket = %v (%v), want the dialler's %v", remote, err, local)
				}

				opts := TCPOptions{NoDelay: true, SendBuffer: 256 << 10, RecvBuffer: 256 << 10}
				for _, fd := range []int{cfd, sfd} {
					if err := SetTCPOptions(fd, opts); err != nil {
						t.Fatal(err)
					}
					if v, err := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY); err != nil || v == 0 {
						t.Fatalf("TCP_NODELAY = %d, %v", v, err)
					}
					// Linux doubles the requested size; others keep it.
					if v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF); err != nil || v < opts.SendBuffer {
						t.Fatalf("SO_SNDBUF = %d, %v", v, err)
					}
					if v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF); err != nil || v < opts.RecvBuffer {
						t.Fatalf("SO_RCVBUF = %d, %v", v, err)
					}
				}

				msg := []byte("through the only door")
				sc, so := newOp()
				if err := io.Send(sc, cfd, msg); err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, 64)
				rc, ro := newOp()
				if err := io.Recv(rc, sfd, buf); err != nil {
					t.Fatal(err)
				}
				runUntil(t, io, func() bool { return so.done && ro.done })
				if so.err != nil || ro.err != nil || !bytes.Equal(buf[:ro.n], msg) {
					t.Fatalf("send %d %v, recv %q %v", so.n, so.err, buf[:ro.n], ro.err)
				}
				if err := CloseSocket(cfd); err != nil {
					t.Fatal(err)
				}
				if err := CloseSocket(cfd); !errors.Is(err, unix.EBADF) {
					t.Fatalf("second CloseSocket: %v, want EBADF", err)
				}
				// The peer sees the orderly shutdown.
				rc, ro = newOp()
				if err := io.Recv(rc, sfd, buf); err != nil {
					t.Fatal(err)
				}
				runUntil(t, io, func() bool { return ro.done })
				if ro.n != 0 || ro.err != nil {
					t.Fatalf("recv after CloseSocket: %d, %v; want EOF", ro.n, ro.err)
				}
			})
		}
	})
}

func TestListenTCPErrors(t *testing.T) {
	forEachBackend(t, 4, func(t *testing.T, io *IO) {
		_, addr := listenLoopback(t, io, false)
		fd, err := io.ListenTCP(addr, 16)
		if !errors.Is(err, unix.EADDRINUSE) || !strings.Contains(err.Error(), "bind") || !strings.Contains(err.Error(), addr.String()) {
			t.Fatalf("second listen on %s: fd %d, %v; want EADDRINUSE naming bind and the address", addr, fd, err)
		}
		if fd != -1 {
			t.Fatalf("failed ListenTCP returned fd %d", fd)
		}
		if _, err := io.ListenTCP(TCPAddr{}, 0); !errors.Is(err, ErrInvalid) {
			t.Fatalf("ListenTCP(zero): %v", err)
		}
		if _, err := LocalTCPAddr(-1); !errors.Is(err, unix.EBADF) {
			t.Fatalf("LocalTCPAddr(-1): %v", err)
		}
		if _, err := RemoteTCPAddr(-1); !errors.Is(err, unix.EBADF) {
			t.Fatalf("RemoteTCPAddr(-1): %v", err)
		}
		if (TCPAddr{}).IP().IsValid() {
			t.Fatal("the zero TCPAddr has an IP")
		}
		if err := CloseSocket(-1); !errors.Is(err, ErrInvalid) {
			t.Fatalf("CloseSocket(-1): %v", err)
		}
		if err := SetTCPOptions(0, TCPOptions{SendBuffer: -1}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("SetTCPOptions(negative buffer): %v", err)
		}
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		defer w.Close()
		if err := SetTCPOptions(int(r.Fd()), TCPOptions{NoDelay: true}); !errors.Is(err, unix.ENOTSOCK) || !strings.Contains(err.Error(), "TCP_NODELAY") {
			t.Fatalf("SetTCPOptions on a pipe: %v, want ENOTSOCK naming the option", err)
		}
	})
}

func TestDialTCPRefusedAndQueueFull(t *testing.T) {
	forEachBackend(t, 1, func(t *testing.T, io *IO) {
		// A port bound but not listening refuses connections.
		a, err := ResolveTCP(context.Background(), "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		bfd, err := io.OpenSocket(unix.AF_INET, unix.SOCK_STREAM, 0)
		if err != nil {
			t.Fatal(err)
		}
		closeFdLater(t, bfd)
		if err := unix.Bind(bfd, a.sa); err != nil {
			t.Fatal(err)
		}
		target, err := LocalTCPAddr(bfd)
		if err != nil {
			t.Fatal(err)
		}
		dc, do := newOp()
		cfd, err := io.DialTCP(dc, target)
		if err != nil {
			t.Fatal(err)
		}
		closeFdLater(t, cfd)
		runUntil(t, io, func() bool { return do.done })
		if !errors.Is(do.err, unix.ECONNREFUSED) {
			t.Fatalf("dial a closed port: %v, want ECONNREFUSED", do.err)
		}

		// With the only slot taken, DialTCP fails and leaves no socket open.
		tc, to := newOp()
		if err := io.Timeout(tc, 1e9); err != nil {
			t.Fatal(err)
		}
		before := openFds(t)
		if fd, err := io.DialTCP(dc, target); !errors.Is(err, ErrQueueFull) || fd != -1 || !strings.Contains(err.Error(), target.String()) {
			t.Fatalf("DialTCP with the queue full: fd %d, %v", fd, err)
		}
		if after := openFds(t); after != before {
			t.Fatalf("DialTCP that failed left %d descriptors open (%d before)", after, before)
		}
		if _, err := io.DialTCP(dc, TCPAddr{}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("DialTCP(zero): %v", err)
		}
		if err := io.Cancel(tc); err != nil {
			t.Fatal(err)
		}
		runUntil(t, io, func() bool { return to.done })
	})
}

// openFds counts this process's open descriptors (Linux), or skips.
func openFds(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count descriptors: %v", err)
	}
	return len(entries)
}
