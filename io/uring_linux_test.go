package io

import (
	"errors"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func newURingIO(t *testing.T) (*IO, *uring) {
	io := newTestIO(t, BackendIOUring, 16)
	return io, io.eng.(*uring)
}

// File operations the loop is about to sleep on run inline when nothing else is
// in flight; otherwise they go through the ring.
func TestURingInlineFileOps(t *testing.T) {
	io, r := newURingIO(t)
	f := openTestFile(t, 1<<16)

	c, o := newOp()
	must(t, io.Fdatasync(c, f.Fd))
	runUntil(t, io, func() bool { return o.done })
	if o.err != nil || r.inlineOps != 1 {
		t.Fatalf("lone fdatasync: err %v, inline %d", o.err, r.inlineOps)
	}

	// With a timeout in flight the fsync must go to the kernel.
	tc, to := newOp()
	must(t, io.Timeout(tc, int64(time.Hour)))
	for _, sync := range []func(*Completion, int) error{io.Fsync, io.Fdatasync} {
		c, o := newOp()
		must(t, sync(c, f.Fd))
		runUntil(t, io, func() bool { return o.done })
		if o.err != nil {
			t.Fatalf("ring fsync: %v", o.err)
		}
	}
	if r.inlineOps != 1 {
		t.Fatalf("fsync with other work in flight ran inline")
	}
	must(t, io.Cancel(tc))
	runUntil(t, io, func() bool { return to.done })

	// Tick never blocks, so it hands a lone fsync to the ring.
	c, o = newOp()
	must(t, io.Fsync(c, f.Fd))
	must(t, io.Tick())
	runUntil(t, io, func() bool { return o.done })
	if o.err != nil || r.inlineOps != 1 {
		t.Fatalf("fsync submitted by Tick: err %v, inline %d", o.err, r.inlineOps)
	}

	// A lone write and read run inline too, with the same results: on a
	// *File without a check, on a raw descriptor after an lseek.
	buf := AlignedBuffer(SectorSize)
	copy(buf, "inline")
	c, o = newOp()
	must(t, io.WriteFile(c, f, buf, SectorSize))
	runUntil(t, io, func() bool { return o.done })
	back := AlignedBuffer(2 * SectorSize)
	rc, ro := newOp()
	must(t, io.ReadFile(rc, f, back, 1<<16-SectorSize)) // short read at the end
	runUntil(t, io, func() bool { return ro.done })
	if o.err != nil || o.n != SectorSize || ro.err != nil || ro.n != SectorSize || r.inlineOps != 3 {
		t.Fatalf("inline write %+v, read %+v, inline ops %d", *o, *ro, r.inlineOps)
	}
	c, o = newOp()
	must(t, io.Write(c, f.Fd, buf, 2*SectorSize))
	runUntil(t, io, func() bool { return o.done })
	rc, ro = newOp()
	must(t, io.Read(rc, f.Fd, back[:SectorSize], 2*SectorSize))
	runUntil(t, io, func() bool { return ro.done })
	if o.err != nil || o.n != SectorSize || ro.err != nil || ro.n != SectorSize || string(back[:6]) != "inline" || r.inlineOps != 5 {
		t.Fatalf("raw inline write %+v, read %+v, inline ops %d", *o, *ro, r.inlineOps)
	}
	// A durable write runs inline as pwritev2(RWF_DSYNC), or through the
	// ring as IORING_OP_WRITE with RWF_DSYNC.
	for _, inline := range []bool{true, false} {
		r.noInline = !inline
		before := r.inlineOps
		c, o = newOp()
		must(t, io.WriteDurable(c, f, buf, 3*SectorSize))
		runUntil(t, io, func() bool { return o.done })
		if o.err != nil || o.n != SectorSize || (r.inlineOps > before) != inline {
			t.Fatalf("durable write (inline %v): %+v, inline ops %d -> %d", inline, *o, before, r.inlineOps)
		}
	}
	r.noInline = false
	if r.inlineOps != 6 {
		t.Fatalf("inline ops %d, want 6", r.inlineOps)
	}

	// Sockets never run inline: a recv could wait for its peer forever.
	client, server := connectPair(t, io, true)
	rc, ro = newOp()
	must(t, io.Recv(rc, server, make([]byte, 8)))
	must(t, io.Tick())
	unix.Write(client, []byte("x"))
	runUntil(t, io, func() bool { return ro.done })
	if r.inlineOps != 6 {
		t.Fatalf("socket op ran inline")
	}
	// Nor does Write on a raw descriptor that is not seekable (a pipe).
	var p [2]int
	must(t, unix.Pipe2(p[:], unix.O_CLOEXEC))
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	c, o = newOp()
	must(t, io.Write(c, p[1], []byte("x"), 0))
	runUntil(t, io, func() bool { return o.done })
	if r.inlineOps != 6 || o.err != nil || o.n != 1 {
		t.Fatalf("pipe write: %+v, inline ops %d", *o, r.inlineOps)
	}

	// Errors are reported the same way on both paths.
	for _, inline := range []bool{true, false} {
		r.noInline = !inline
		before := r.inlineOps
		c, o := newOp()
		must(t, io.WriteFile(c, f, buf[:100], 0)) // O_DIRECT needs aligned lengths
		runUntil(t, io, func() bool { return o.done })
		if !errors.Is(o.err, unix.EINVAL) || o.n != 0 {
			t.Errorf("inline=%v: misaligned write: %d %v", inline, o.n, o.err)
		}
		if (r.inlineOps > before) != inline {
			t.Errorf("inline=%v: inline ops %d -> %d", inline, before, r.inlineOps)
		}
	}
}

// Send and Recv are tried once without blocking at submission; the callback
// still runs only from the loop. A Recv that finds no data, and any Send or
// Recv behind one already in the ring on the same socket, go through the ring
// and keep their order.
func TestURingInlineSocketOps(t *testing.T) {
	io, r := newURingIO(t)
	client, server := connectPair(t, io, true)

	sc, so := newOp()
	must(t, io.Send(sc, client, []byte("ping")))
	if r.inlineSocket != 1 || so.done {
		t.Fatalf("send: inline %d, callback ran %v (want inline, callback not yet)", r.inlineSocket, so.done)
	}
	runUntil(t, io, func() bool { return so.done })
	if so.err != nil || so.n != 4 {
		t.Fatalf("inline send: n %d err %v", so.n, so.err)
	}
	// The data is there by now (loopback): the Recv runs inline.
	in := make([]byte, 16)
	rc, ro := newOp()
	must(t, io.Recv(rc, server, in))
	if r.inlineSocket != 2 || ro.done {
		t.Fatalf("recv: inline %d, callback ran %v", r.inlineSocket, ro.done)
	}
	runUntil(t, io, func() bool { return ro.done })
	if ro.err != nil || string(in[:ro.n]) != "ping" {
		t.Fatalf("inline recv: %q err %v", in[:ro.n], ro.err)
	}

	// Nothing to read: the first Recv misses and goes to the ring; the second
	// must not go inline past it, even once data arrived. (Two operations of
	// one kind in the ring on one socket are not ordered by the kernel; only
	// the inline attempt is restricted, so it never makes this worse.)
	in1, in2 := make([]byte, 1), make([]byte, 1)
	r1, o1 := newOp()
	r2, o2 := newOp()
	must(t, io.Recv(r1, server, in1))
	if _, err := unix.Write(client, []byte("ab")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // let loopback deliver
	must(t, io.Recv(r2, server, in2))
	if r.inlineSocket != 2 {
		t.Fatalf("recv behind a recv in the ring ran inline")
	}
	runUntil(t, io, func() bool { return o1.done && o2.done })
	if got := string(in1[:o1.n]) + string(in2[:o2.n]); o1.err != nil || o2.err != nil || got != "ab" && got != "ba" {
		t.Fatalf("recvs: %q, %q (errs %v, %v)", in1[:o1.n], in2[:o2.n], o1.err, o2.err)
	}

	// Fill the client's send path, so the next Send would block and goes to
	// the ring; the Send after it must not go inline past it.
	chunk := make([]byte, 64<<10)
	filled := 0
	for {
		n, err := sysSend(client, chunk)
		if err == unix.EAGAIN {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		filled += n
	}
	a, b := make([]byte, 8<<10), make([]byte, 8<<10)
	inline := r.inlineSocket
	ac, ao := newOp()
	bc, bo := newOp()
	must(t, io.Send(ac, client, a))
	must(t, io.Send(bc, client, b))
	if r.inlineSocket != inline {
		t.Fatalf("send on a full socket, or behind a send in the ring, ran inline")
	}
	buf := make([]byte, 64<<10)
	got := 0
	deadline := time.Now().Add(5 * time.Second)
	for !ao.done || !bo.done || got < filled+ao.n+bo.n {
		if time.Now().After(deadline) {
			t.Fatalf("stuck: got %d bytes, sends done %v %v", got, ao.done, bo.done)
		}
		if n, err := sysRecv(server, buf); err == nil {
			got += n
		} else if err != unix.EAGAIN {
			t.Fatal(err)
		}
		must(t, io.Tick())
	}
	if ao.err != nil || bo.err != nil || ao.n == 0 || bo.n == 0 || got != filled+ao.n+bo.n {
		t.Fatalf("sends: %d %v, %d %v; received %d of %d", ao.n, ao.err, bo.n, bo.err, got, filled+ao.n+bo.n)
	}
	if r.sendsInRing != [socketBuckets]uint16{} || r.recvsInRing != [socketBuckets]uint16{} {
		t.Fatalf("ring counts not back to zero: sends %v recvs %v", r.sendsInRing, r.recvsInRing)
	}

	// A Send after CloseFd (before the loop ran) must not go out inline
	// ahead of the close.
	c2, s2 := connectPair(t, io, false)
	closeFdLater(t, s2)
	inline = r.inlineSocket
	cc, co := newOp()
	must(t, io.CloseFd(cc, c2))
	lc, lo := newOp()
	must(t, io.Send(lc, c2, []byte("late")))
	if r.inlineSocket != inline {
		t.Fatalf("send after CloseFd ran inline")
	}
	runUntil(t, io, func() bool { return co.done && lo.done })
	if co.err != nil || lo.err == nil {
		t.Fatalf("close %v, send after close %v (want an error)", co.err, lo.err)
	}
	if r.sendsInRing != [socketBuckets]uint16{} || r.recvsInRing != [socketBuckets]uint16{} {
		t.Fatalf("ring counts not back to zero after close: sends %v recvs %v", r.sendsInRing, r.recvsInRing)
	}
}

// With Options.LockedOSThread the ring is registered with the thread and set
// up with SINGLE_ISSUER|DEFER_TASKRUN (on kernels that accept them); the loop
// works as before, including completions collected by Tick alone.
func TestURingLockedOSThread(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	io, err := New(Options{Entries: 16, Backend: BackendIOUring, Logger: quietLogger, LockedOSThread: true})
	if err != nil {
		t.Skip(err)
	}
	r := io.eng.(*uring)
	t.Logf("registered ring %v (index %d), defer taskrun %v", r.registered, r.enterFd, r.deferRun)
	client, server := connectPair(t, io, true)
	in := make([]byte, 8)
	rc, ro := newOp()
	must(t, io.Recv(rc, server, in)) // nothing yet: through the ring
	tc, to := newOp()
	must(t, io.Timeout(tc, int64(time.Millisecond)))
	must(t, io.Tick())
	if _, err := unix.Write(client, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !ro.done || !to.done {
		if time.Now().After(deadline) {
			t.Fatalf("Tick never collected the completions: recv %v timeout %v", ro.done, to.done)
		}
		must(t, io.Tick())
	}
	if ro.err != nil || string(in[:ro.n]) != "hi" || to.err != nil {
		t.Fatalf("recv %q %v, timeout %v", in[:ro.n], ro.err, to.err)
	}
	pc, po := newOp()
	must(t, io.Recv(pc, server, in))
	if err := io.Close(); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(po.err, ErrCanceled) {
		t.Fatalf("pending recv at Close: %v", po.err)
	}
}

// TestURingKeepsReceivesForTheNextWait: a Wait that has callbacks to run does
// not enter the kernel only to hand over a Recv; the next Wait submits it and
// sleeps in one io_uring_enter. Anything else pending is submitted at once,
// and receives are kept at most one Wait in a row.
func TestURingKeepsReceivesForTheNextWait(t *testing.T) {
	io, r := newURingIO(t)
	client, server := connectPair(t, io, true)
	in := make([]byte, 8)

	// A Send that finishes inline, then a Recv with no data: the Recv waits
	// in the SQ while the first Wait runs the send's callback.
	sc, so := newOp()
	must(t, io.Send(sc, client, []byte("ping")))
	rc, ro := newOp()
	r.recvSkip[client&(socketBuckets-1)] = 0
	must(t, io.Recv(rc, client, in))
	if r.pending() != 1 {
		t.Fatalf("recv did not go to the SQ (pending %d)", r.pending())
	}
	enters := r.enters
	if n, err := io.Wait(1e9); err != nil || n != 1 || !so.done {
		t.Fatalf("first Wait: ran %d callbacks, err %v, send done %v", n, err, so.done)
	}
	if r.enters != enters || r.pending() != 1 {
		t.Fatalf("first Wait entered the kernel %d times, %d SQEs left (want 0 and 1)", r.enters-enters, r.pending())
	}
	// The peer answers; the next Wait submits the Recv and gets it back.
	peer := make(chan []byte, 1)
	go func() {
		buf := make([]byte, 8)
		n, _ := unix.Read(server, buf)
		unix.Write(server, []byte("pong"))
		peer <- buf[:max(n, 0)]
	}()
	runUntil(t, io, func() bool { return ro.done })
	got := <-peer
	if ro.err != nil || string(in[:ro.n]) != "pong" || string(got) != "ping" {
		t.Fatalf("recv %q err %v, peer got %q", in[:ro.n], ro.err, got)
	}

	// A Timeout pending beside the Recv is never kept back.
	tc, to := newOp()
	sc2, so2 := newOp()
	rc2, ro2 := newOp()
	must(t, io.Send(sc2, client, []byte("x")))
	r.recvSkip[client&(socketBuckets-1)] = 0
	must(t, io.Recv(rc2, client, in))
	must(t, io.Timeout(tc, 1e6))
	if _, err := io.Wait(1e9); err != nil || !so2.done {
		t.Fatalf("Wait: err %v, send done %v", err, so2.done)
	}
	if r.pending() != 0 {
		t.Fatalf("%d SQEs kept beside a timeout", r.pending())
	}
	runUntil(t, io, func() bool { return to.done })
	if ro2.done {
		t.Fatal("recv finished without data")
	}
	must(t, io.Cancel(rc2))
	runUntil(t, io, func() bool { return ro2.done })

	// Callbacks ready on every Wait: a receive is still submitted by the
	// second one.
	rc3, ro3 := newOp()
	r.recvSkip[client&(socketBuckets-1)] = 0
	must(t, io.Recv(rc3, client, in))
	for i := range 2 {
		sc, _ := newOp()
		must(t, io.Send(sc, client, []byte("y"))) // inline: a callback to run
		if _, err := io.Wait(1e9); err != nil {
			t.Fatal(err)
		}
		if want := uint32(1 - i); r.pending() != want {
			t.Fatalf("Wait %d: %d SQEs pending, want %d", i, r.pending(), want)
		}
	}
	if ro3.done {
		t.Fatal("recv finished without data")
	}
	if _, err := unix.Write(server, []byte("z")); err != nil {
		t.Fatal(err)
	}
	runUntil(t, io, func() bool { return ro3.done })
	if ro3.err != nil || string(in[:ro3.n]) != "z" {
		t.Fatalf("recv %q err %v", in[:ro3.n], ro3.err)
	}

	// Tick always submits, even with callbacks ready.
	rc4, ro4 := newOp()
	r.recvSkip[client&(socketBuckets-1)] = 0
	must(t, io.Recv(rc4, client, in))
	sc4, _ := newOp()
	must(t, io.Send(sc4, client, []byte("w")))
	must(t, io.Tick())
	if r.pending() != 0 {
		t.Fatalf("Tick left %d SQEs", r.pending())
	}
	// A Cancel beside ready callbacks is submitted at once (with the Recv
	// it follows).
	sc5, _ := newOp()
	must(t, io.Send(sc5, client, []byte("v")))
	must(t, io.Cancel(rc4))
	if _, err := io.Wait(1e9); err != nil {
		t.Fatal(err)
	}
	if r.pending() != 0 {
		t.Fatalf("a cancel was kept back with %d SQEs", r.pending())
	}
	runUntil(t, io, func() bool { return ro4.done })
	if !errors.Is(ro4.err, ErrCanceled) {
		t.Fatalf("canceled recv: %v", ro4.err)
	}
}
