package io

import (
	"errors"
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

// lockedModes are io_uring with Options.LockedOSThread (the benchmark's
// goroutine is locked to its thread and closes these IOs on it).
var lockedModes = map[string]bool{"io_uring_locked": true, "io_uring_ring_locked": true}

func benchIO(b *testing.B, mode string) *IO {
	backend := BackendIOUring
	if mode == "fallback" {
		backend = BackendFallback
	}
	if lockedModes[mode] {
		io, err := New(Options{Entries: 64, Backend: BackendIOUring, Logger: quietLogger, LockedOSThread: true})
		if err != nil {
			b.Fatal(err)
		}
		if mode == "io_uring_ring_locked" {
			r := io.eng.(*uring)
			r.noInline, r.noInlineSock, r.noKeepRecvs = true, true, true
		}
		return io
	}
	io := newTestIO(b, backend, 64)
	switch mode {
	case "io_uring_ring": // every operation through the ring
		r := io.eng.(*uring)
		r.noInline, r.noInlineSock, r.noKeepRecvs = true, true, true
	case "io_uring_nokeep": // receives never kept back for the next poll
		io.eng.(*uring).noKeepRecvs = true
	}
	return io
}

// BenchmarkWriteFdatasync: one O_DIRECT write of the given size followed by
// fdatasync, to a preallocated and pre-written region (steady-state overwrite).
func BenchmarkWriteFdatasync(b *testing.B) {
	for _, sz := range []struct {
		name         string
		size, region int
	}{{"4KiB", 4 << 10, 16 << 20}, {"1MiB", 1 << 20, 64 << 20}} {
		b.Run(sz.name, func(b *testing.B) {
			// io_uring_ring: io_uring with the inline path for lone file
			// operations disabled, i.e. the cost when the loop has other work.
			// io_uring_raw: Write on the raw descriptor instead of WriteFile
			// (inline after an lseek proving the descriptor is seekable).
			for _, mode := range append(benchModes, "io_uring_ring", "io_uring_raw") {
				b.Run(mode, func(b *testing.B) { benchWriteFdatasync(b, mode, sz.size, sz.region) })
			}
		})
	}
}

// BenchmarkWriteFdatasyncTmpfs4KiB is BenchmarkWriteFdatasync/4KiB on tmpfs,
// where O_DIRECT writes and fdatasync cost almost nothing: what is left is the
// software path of each mode (syscalls, ring, thread hops).
func BenchmarkWriteFdatasyncTmpfs4KiB(b *testing.B) {
	for _, mode := range append(benchModes, "io_uring_ring") {
		b.Run(mode, func(b *testing.B) {
			dir, err := os.MkdirTemp("/dev/shm", "chronon-io-bench")
			if err != nil {
				b.Skip("no /dev/shm:", err)
			}
			defer os.RemoveAll(dir)
			benchWriteFdatasyncIn(b, dir, mode, 4<<10, 16<<20)
		})
	}
}

func benchWriteFdatasync(b *testing.B, mode string, size, region int) {
	benchWriteFdatasyncIn(b, b.TempDir(), mode, size, region)
}

// benchDataFile creates a data file of region bytes in dir, written once and
// synced (so the benchmark measures steady-state overwrites), and a buffer of
// size bytes.
func benchDataFile(b *testing.B, dir string, size, region int) (path string, f *File, buf []byte) {
	path = filepath.Join(dir, "bench.data")
	f, err := OpenDataFile(path, FileOptions{Size: int64(region)})
	if errors.Is(err, ErrDirectIOUnsupported) {
		b.Skip(err)
	}
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
	buf = AlignedBuffer(size)
	for i := range buf {
		buf[i] = byte(i)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	return path, f, buf
}

func benchWriteFdatasyncIn(b *testing.B, dir, mode string, size, region int) {
	path, f, buf := benchDataFile(b, dir, size, region)
	offset := func(i int) int64 { return int64(i*size) % int64(region) }

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
		if mode == "io_uring_raw" {
			must(b, io.Write(&w, f.Fd, buf, offset(i)))
		} else {
			must(b, io.WriteFile(&w, f, buf, offset(i)))
		}
		waitFor(b, io, &done, 1)
		must(b, io.Fdatasync(&s, f.Fd))
		waitFor(b, io, &done, 2)
	}
	if r, ok := io.eng.(*uring); ok {
		b.ReportMetric(float64(r.inlineOps)/float64(b.N), "inline/op")
	}
}

// BenchmarkWriteDurable: the same steady-state overwrite as
// BenchmarkWriteFdatasync, as one durable operation: IO.WriteDurable, i.e.
// IORING_OP_WRITE with RWF_DSYNC through the ring (io_uring_ring), inline
// pwritev2(RWF_DSYNC) (io_uring), pwritev2(RWF_DSYNC) at submission (fallback),
// or unix.Pwritev2 called directly (blocking).
func BenchmarkWriteDurable(b *testing.B) {
	for _, sz := range []struct {
		name         string
		size, region int
	}{{"4KiB", 4 << 10, 16 << 20}, {"1MiB", 1 << 20, 64 << 20}} {
		b.Run(sz.name, func(b *testing.B) {
			for _, mode := range append(benchModes, "io_uring_ring") {
				b.Run(mode, func(b *testing.B) { benchWriteDurable(b, mode, sz.size, sz.region) })
			}
		})
	}
}

func benchWriteDurable(b *testing.B, mode string, size, region int) {
	_, f, buf := benchDataFile(b, b.TempDir(), size, region)
	defer f.Close()
	offset := func(i int) int64 { return int64(i*size) % int64(region) }
	if mode == "blocking" {
		iovs := [][]byte{buf}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if n, err := unix.Pwritev2(f.Fd, iovs, offset(i), unix.RWF_DSYNC); err != nil || n != size {
				b.Fatalf("pwritev2: %d %v", n, err)
			}
		}
		return
	}
	io := benchIO(b, mode)
	var done int
	w := Completion{Callback: func(c *Completion) {
		if c.Err != nil || c.Result != size {
			b.Errorf("%v: n=%d err=%v", c.Operation(), c.Result, c.Err)
		}
		done++
	}}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		done = 0
		must(b, io.WriteDurable(&w, f, buf, offset(i)))
		waitFor(b, io, &done, 1)
	}
	if r, ok := io.eng.(*uring); ok {
		b.ReportMetric(float64(r.inlineOps)/float64(b.N), "inline/op")
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
		conn := dialEcho(b, addr)
		timeEach(b, func() { netRoundTrip(b, conn, out, in) })
		return
	}

	io := benchIO(b, mode)
	p := newPinger(b, io, addr)
	timeEach(b, func() { p.roundTrip(b, out, in) })
}

// timeEach runs op b.N times and, besides ns/op (the mean), reports the
// median and the 99th percentile of one op: a round trip through a Go echo
// goroutine now and then waits ~10-15 ms for the Go scheduler (see
// docs/io.md), which the mean mixes with the common case.
func timeEach(b *testing.B, op func()) {
	times := make([]float64, b.N)
	b.ResetTimer()
	for i := range times {
		start := monotonic()
		op()
		times[i] = float64(monotonic() - start)
	}
	b.StopTimer()
	b.ReportMetric(median(times)/1e3, "med-µs")
	b.ReportMetric(quantile(times, 0.99)/1e3, "p99-µs")
}

// pinger is the client side of the ping-pong on an IO.
type pinger struct {
	io             *IO
	fd             int
	sc, rc         Completion
	sent, received int
	failed         error
}

func newPinger(b *testing.B, io *IO, addr *net.TCPAddr) *pinger {
	fd, err := io.OpenSocket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { unix.Close(fd) })
	p := newExchanger(io)
	p.fd = fd
	var ip [4]byte
	copy(ip[:], addr.IP.To4())
	must(b, io.Connect(&p.sc, fd, &unix.SockaddrInet4{Port: addr.Port, Addr: ip}))
	runUntil(b, io, func() bool { return !p.sc.InFlight() })
	if p.sc.Err != nil {
		b.Fatal(p.sc.Err)
	}
	must(b, unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1))
	return p
}

func newExchanger(io *IO) *pinger {
	p := &pinger{io: io, fd: -1}
	p.sc.Callback = func(c *Completion) { p.sent += c.Result; p.failed = c.Err }
	p.rc.Callback = func(c *Completion) {
		p.received += c.Result
		if c.Err != nil || c.Result == 0 {
			p.failed = stdio.ErrUnexpectedEOF
		}
	}
	return p
}

// roundTrip sends out and receives len(in) bytes back, running the loop (and
// whatever else is in flight on it) meanwhile.
func (p *pinger) roundTrip(b *testing.B, out, in []byte) {
	p.exchange(b, p.fd, p.fd, out, in)
}

// exchange sends out on sendFd and receives len(in) bytes on recvFd.
func (p *pinger) exchange(b *testing.B, sendFd, recvFd int, out, in []byte) {
	p.sent, p.received = 0, 0
	must(b, p.io.Send(&p.sc, sendFd, out))
	must(b, p.io.Recv(&p.rc, recvFd, in))
	for p.received < len(in) || p.sent < len(out) {
		if _, err := p.io.Wait(int64(1e9)); err != nil {
			b.Fatal(err)
		}
		if p.failed != nil {
			b.Fatal(p.failed)
		}
		if !p.sc.InFlight() && p.sent < len(out) {
			must(b, p.io.Send(&p.sc, sendFd, out[p.sent:]))
		}
		if !p.rc.InFlight() && p.received < len(in) {
			must(b, p.io.Recv(&p.rc, recvFd, in[p.received:]))
		}
	}
}

// BenchmarkPingPongDuringSync: the 256-byte ping-pong while the same loop keeps
// a chain of 4 KiB write+fdatasync pairs going, as a replica journals while it
// talks to peers. Reports the ping-pong round trip (ns/op) and the durable
// writes completed per round trip (syncs/op).
func BenchmarkPingPongDuringSync(b *testing.B) {
	for _, mode := range benchModes[:2] {
		b.Run(mode, func(b *testing.B) {
			addr := echoServer(b)
			f := openTestFile(b, 16<<20)
			io := benchIO(b, mode)
			p := newPinger(b, io, addr)
			buf := AlignedBuffer(4096)
			var w, s Completion
			var syncs int
			stop := false
			w.Callback = func(c *Completion) {
				if c.Err != nil {
					b.Error(c.Err)
					return
				}
				must(b, io.Fdatasync(&s, f.Fd))
			}
			s.Callback = func(c *Completion) {
				syncs++
				if c.Err == nil && !stop {
					must(b, io.WriteFile(&w, f, buf, int64(syncs%4096)*4096))
				}
			}
			out, in := make([]byte, 256), make([]byte, 256)
			b.ReportAllocs()
			b.ResetTimer()
			must(b, io.WriteFile(&w, f, buf, 0))
			for i := 0; i < b.N; i++ {
				p.roundTrip(b, out, in)
			}
			b.StopTimer()
			b.ReportMetric(float64(syncs)/float64(b.N), "syncs/op")
			stop = true
			runUntil(b, io, func() bool { return !w.InFlight() && !s.InFlight() })
		})
	}
}

// dialEcho connects a net.Conn (TCP_NODELAY) to the echo server at addr,
// closed when b ends.
func dialEcho(b *testing.B, addr *net.TCPAddr) *net.TCPConn {
	conn, err := net.DialTCP("tcp", nil, addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	conn.SetNoDelay(true)
	return conn
}

// netRoundTrip sends out on conn and reads len(in) bytes back.
func netRoundTrip(b *testing.B, conn net.Conn, out, in []byte) {
	if _, err := conn.Write(out); err != nil {
		b.Fatal(err)
	}
	if _, err := stdio.ReadFull(conn, in); err != nil {
		b.Fatal(err)
	}
}

// netConnPair returns both ends of a loopback TCP connection as net.Conns,
// closed when b ends.
func netConnPair(b *testing.B) (client, server net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	if client, err = net.Dial("tcp", ln.Addr().String()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { client.Close() })
	if server, err = ln.Accept(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { server.Close() })
	return client, server
}

// netExchange sends out from client to server and it back (through mid),
// with blocking net.Conn calls.
func netExchange(b *testing.B, client, server net.Conn, out, mid, in []byte) {
	if _, err := client.Write(out); err != nil {
		b.Fatal(err)
	}
	if _, err := stdio.ReadFull(server, mid); err != nil {
		b.Fatal(err)
	}
	if _, err := server.Write(mid); err != nil {
		b.Fatal(err)
	}
	if _, err := stdio.ReadFull(client, in); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkPingPongSameLoop256: both ends of one loopback connection on the
// same goroutine (one IO, or two net.Conns used in turn): a 256-byte message one
// way and back. No thread wake-ups are involved, so this isolates the cost of
// the event loop itself (syscalls, ring operations, bookkeeping).
func BenchmarkPingPongSameLoop256(b *testing.B) {
	for _, mode := range benchModes {
		b.Run(mode, func(b *testing.B) {
			out, mid, in := make([]byte, 256), make([]byte, 256), make([]byte, 256)
			b.SetBytes(int64(2 * len(out)))
			b.ReportAllocs()
			if mode == "blocking" {
				client, server := netConnPair(b)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					netExchange(b, client, server, out, mid, in)
				}
				return
			}
			io := benchIO(b, mode)
			client, server := connectPair(b, io, true)
			must(b, unix.SetsockoptInt(server, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1))
			p := newExchanger(io)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p.exchange(b, client, server, out, mid)
				p.exchange(b, server, client, mid, in)
			}
		})
	}
}
