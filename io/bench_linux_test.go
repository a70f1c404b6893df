package io

import (
	stdio "io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// Modes compared by the benchmarks: the two IO backends and plain blocking
// syscalls through the standard library (os.File, net.Conn).
var benchModes = []string{"io_uring", "fallback", "blocking"}

func benchIO(b *testing.B, mode string) *IO {
	backend := BackendIOUring
	if mode == "fallback" {
		backend = BackendFallback
	}
	return newTestIO(b, backend, 64)
}

// BenchmarkWriteFdatasync: one O_DIRECT write of the given size followed by
// fdatasync, to a preallocated and pre-written region (steady-state overwrite).
func BenchmarkWriteFdatasync(b *testing.B) {
	for _, sz := range []struct {
		name         string
		size, region int
	}{{"4KiB", 4 << 10, 16 << 20}, {"1MiB", 1 << 20, 64 << 20}} {
		b.Run(sz.name, func(b *testing.B) {
			for _, mode := range benchModes {
				b.Run(mode, func(b *testing.B) { benchWriteFdatasync(b, mode, sz.size, sz.region) })
			}
		})
	}
}

func benchWriteFdatasync(b *testing.B, mode string, size, region int) {
	path := filepath.Join(b.TempDir(), "bench.data")
	f, err := OpenDataFile(path, FileOptions{Size: int64(region)})
	if err != nil {
		b.Fatal(err)
	}
	fill := AlignedBuffer(1 << 20)
	for off := 0; off < region; off += len(fill) {
		if _, err := unix.Pwrite(f.Fd, fill, int64(off)); err != nil {
			b.Fatal(err)
		}
	}
	if err := unix.Fdatasync(f.Fd); err != nil {
		b.Fatal(err)
	}
	buf := AlignedBuffer(size)
	for i := range buf {
		buf[i] = byte(i)
	}
	offset := func(i int) int64 { return int64(i*size) % int64(region) }
	b.SetBytes(int64(size))
	b.ReportAllocs()

	if mode == "blocking" {
		f.Close()
		of, err := os.OpenFile(path, os.O_RDWR|syscall.O_DIRECT, 0)
		if err != nil {
			b.Fatal(err)
		}
		defer of.Close()
		fd := int(of.Fd())
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if n, err := of.WriteAt(buf, offset(i)); err != nil || n != size {
				b.Fatalf("write: %d %v", n, err)
			}
			if err := unix.Fdatasync(fd); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	defer f.Close()
	io := benchIO(b, mode)
	var done int
	cb := func(c *Completion) {
		if c.Err != nil || c.Operation() == OpWrite && c.Result != size {
			b.Errorf("%v: n=%d err=%v", c.Operation(), c.Result, c.Err)
		}
		done++
	}
	w, s := Completion{Callback: cb}, Completion{Callback: cb}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		done = 0
		must(b, io.Write(&w, f.Fd, buf, offset(i)))
		waitFor(b, io, &done, 1)
		must(b, io.Fdatasync(&s, f.Fd))
		waitFor(b, io, &done, 2)
	}
}

// BenchmarkPingPong256: a 256-byte message to a loopback echo server and the
// 256-byte answer back. The echo server is the same Go net.Conn goroutine for
// every mode; only the client side changes.
func BenchmarkPingPong256(b *testing.B) {
	for _, mode := range benchModes {
		b.Run(mode, func(b *testing.B) { benchPingPong(b, mode) })
	}
}

func echoServer(b *testing.B) *net.TCPAddr {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		buf := make([]byte, 256)
		for {
			if _, err := stdio.ReadFull(conn, buf); err != nil {
				return
			}
			if _, err := conn.Write(buf); err != nil {
				return
			}
		}
	}()
	return ln.Addr().(*net.TCPAddr)
}

func benchPingPong(b *testing.B, mode string) {
	addr := echoServer(b)
	out, in := make([]byte, 256), make([]byte, 256)
	b.SetBytes(int64(2 * len(out)))
	b.ReportAllocs()
	if mode == "blocking" {
		conn, err := net.DialTCP("tcp", nil, addr)
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		conn.SetNoDelay(true)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := conn.Write(out); err != nil {
				b.Fatal(err)
			}
			if _, err := stdio.ReadFull(conn, in); err != nil {
				b.Fatal(err)
			}
		}
		return
	}

	io := benchIO(b, mode)
	fd, err := io.OpenSocket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(fd)
	var sent, received int
	var failed error
	sc := Completion{Callback: func(c *Completion) { sent += c.Result; failed = c.Err }}
	rc := Completion{Callback: func(c *Completion) {
		received += c.Result
		if c.Err != nil || c.Result == 0 {
			failed = stdio.ErrUnexpectedEOF
		}
	}}
	var ip [4]byte
	copy(ip[:], addr.IP.To4())
	sa := &unix.SockaddrInet4{Port: addr.Port, Addr: ip}
	must(b, io.Connect(&sc, fd, sa))
	runUntil(b, io, func() bool { return !sc.InFlight() })
	if sc.Err != nil {
		b.Fatal(sc.Err)
	}
	must(b, unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1))

	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sent, received = 0, 0
		must(b, io.Send(&sc, fd, out))
		must(b, io.Recv(&rc, fd, in))
		for received < len(in) || sent < len(out) {
			if _, err := io.Wait(int64(1e9)); err != nil {
				b.Fatal(err)
			}
			if failed != nil {
				b.Fatal(failed)
			}
			if !sc.InFlight() && sent < len(out) {
				must(b, io.Send(&sc, fd, out[sent:]))
			}
			if !rc.InFlight() && received < len(in) {
				must(b, io.Recv(&rc, fd, in[received:]))
			}
		}
	}
}
