package io

import (
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestTimeoutsFireInOrder(t *testing.T) {
	forEachBackend(t, 64, func(t *testing.T, io *IO) {
		delays := []time.Duration{30, 10, 0, 20, 10}
		outs := make([]*outcome, len(delays))
		start := time.Now()
		for i, d := range delays {
			c, o := newOp()
			outs[i] = o
			if err := io.Timeout(c, int64(d*time.Millisecond)); err != nil {
				t.Fatal(err)
			}
		}
		runUntil(t, io, func() bool { return outs[0].done })
		elapsed := time.Since(start)
		if elapsed < 30*time.Millisecond-time.Millisecond {
			t.Errorf("30ms timeout fired after %v", elapsed)
		}
		order := []int{2, 1, 4, 3, 0}
		for k := 1; k < len(order); k++ {
			a, b := outs[order[k-1]], outs[order[k]]
			if a.seq >= b.seq {
				t.Errorf("timeout %d (%v) fired after timeout %d (%v)", order[k-1], delays[order[k-1]], order[k], delays[order[k]])
			}
		}
		for i, o := range outs {
			if o.err != nil || o.n != 0 || o.calls != 1 {
				t.Errorf("timeout %d: %+v", i, *o)
			}
		}
	})
}

func TestCancel(t *testing.T) {
	forEachBackend(t, 64, func(t *testing.T, io *IO) {
		c, o := newOp()
		if err := io.Timeout(c, int64(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := io.Cancel(c); err != nil {
			t.Fatal(err)
		}
		if o.done {
			t.Fatal("callback ran inline from Cancel")
		}
		runUntil(t, io, func() bool { return o.done })
		if !errors.Is(o.err, ErrCanceled) {
			t.Fatalf("canceled timeout: %v", o.err)
		}
		if err := io.Cancel(c); err != nil { // idle: no-op
			t.Fatal(err)
		}
	})
}

func TestQueueFull(t *testing.T) {
	const entries = 8
	forEachBackend(t, entries, func(t *testing.T, io *IO) {
		var cs [entries]*Completion
		for i := range cs {
			cs[i], _ = newOp()
			if err := io.Timeout(cs[i], int64(time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		extra, eo := newOp()
		if err := io.Timeout(extra, 0); !errors.Is(err, ErrQueueFull) {
			t.Fatalf("submission %d: %v, want ErrQueueFull", entries+1, err)
		}
		if extra.InFlight() {
			t.Fatal("refused completion is in flight")
		}
		if err := io.Tick(); err != nil {
			t.Fatal(err)
		}
		if err := io.Timeout(cs[0], 0); !errors.Is(err, ErrInFlight) {
			t.Fatalf("resubmitting an in-flight completion: %v, want ErrInFlight", err)
		}
		io.Cancel(cs[0])
		runUntil(t, io, func() bool { return !cs[0].InFlight() })
		if err := io.Timeout(extra, 0); err != nil {
			t.Fatalf("after a slot freed: %v", err)
		}
		runUntil(t, io, func() bool { return eo.done })
	})
}

func TestInvalidSubmissions(t *testing.T) {
	forEachBackend(t, 8, func(t *testing.T, io *IO) {
		if err := io.Timeout(&Completion{}, 0); !errors.Is(err, ErrInvalid) {
			t.Errorf("nil callback: %v", err)
		}
		c, _ := newOp()
		if err := io.ReadFile(c, nil, nil, 0); !errors.Is(err, ErrInvalid) {
			t.Errorf("nil file: %v", err)
		}
		if err := io.WriteDurable(c, &File{Fd: -1}, nil, 0); !errors.Is(err, ErrInvalid) {
			t.Errorf("closed file: %v", err)
		}
		if err := io.Read(c, -1, nil, 0); !errors.Is(err, ErrInvalid) {
			t.Errorf("negative fd: %v", err)
		}
		if err := io.Read(c, 0, nil, -4096); !errors.Is(err, ErrInvalid) {
			t.Errorf("negative offset: %v", err)
		}
		if err := io.Timeout(c, -1); !errors.Is(err, ErrInvalid) {
			t.Errorf("negative timeout: %v", err)
		}
		for _, sa := range []unix.Sockaddr{nil, (*unix.SockaddrInet4)(nil), &unix.SockaddrInet4{Port: 1 << 16},
			&unix.SockaddrUnix{}, &unix.SockaddrUnix{Name: string(make([]byte, 200))}} {
			if err := io.Connect(c, 0, sa); !errors.Is(err, ErrInvalid) {
				t.Errorf("Connect to %#v: %v, want ErrInvalid", sa, err)
			}
		}
		if io.InFlight() != 0 {
			t.Errorf("in flight %d after refused submissions", io.InFlight())
		}
	})
}

func TestCallbacksAreNotReentrant(t *testing.T) {
	forEachBackend(t, 8, func(t *testing.T, io *IO) {
		var tickErr, waitErr, runErr, closeErr error
		var chained int
		c := &Completion{}
		c.Callback = func(c *Completion) {
			tickErr = io.Tick()
			_, waitErr = io.Wait(0)
			runErr = io.RunFor(1)
			closeErr = io.Close()
			if chained < 3 { // resubmitting itself from its callback is allowed
				chained++
				if err := io.Timeout(c, 0); err != nil {
					t.Errorf("resubmit from callback: %v", err)
				}
			}
		}
		if err := io.Timeout(c, 0); err != nil {
			t.Fatal(err)
		}
		runUntil(t, io, func() bool { return chained == 3 && !c.InFlight() })
		for name, err := range map[string]error{"Tick": tickErr, "Wait": waitErr, "RunFor": runErr, "Close": closeErr} {
			if !errors.Is(err, ErrReentrant) {
				t.Errorf("%s from a callback: %v, want ErrReentrant", name, err)
			}
		}
	})
}

func TestCloseCancelsEverything(t *testing.T) {
	for _, b := range backends {
		t.Run(b.String(), func(t *testing.T) {
			io, err := New(Options{Entries: 16, Backend: b, Logger: quietLogger})
			if err != nil {
				newTestIO(t, b, 16) // skips or fails with the reason
				return
			}
			client, server := connectPair(t, io, true)
			_ = client
			rc, ro := newOp()
			if err := io.Recv(rc, server, make([]byte, 64)); err != nil {
				t.Fatal(err)
			}
			tc, to := newOp()
			if err := io.Timeout(tc, int64(time.Hour)); err != nil {
				t.Fatal(err)
			}
			if err := io.Tick(); err != nil {
				t.Fatal(err)
			}
			if err := io.Close(); err != nil {
				t.Fatal(err)
			}
			if !errors.Is(ro.err, ErrCanceled) || ro.calls != 1 {
				t.Errorf("pending recv after Close: %+v", *ro)
			}
			if !errors.Is(to.err, ErrCanceled) || to.calls != 1 {
				t.Errorf("pending timeout after Close: %+v", *to)
			}
			if err := io.Timeout(tc, 0); !errors.Is(err, ErrClosed) {
				t.Errorf("submit after Close: %v", err)
			}
			if err := io.Tick(); !errors.Is(err, ErrClosed) {
				t.Errorf("Tick after Close: %v", err)
			}
			if err := io.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
		})
	}
}

func TestRunFor(t *testing.T) {
	forEachBackend(t, 8, func(t *testing.T, io *IO) {
		c, o := newOp()
		if err := io.Timeout(c, int64(5*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := io.RunFor(int64(20 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		if !o.done || o.err != nil {
			t.Fatalf("timeout within RunFor: %+v", *o)
		}
		if d := time.Since(start); d < 20*time.Millisecond {
			t.Fatalf("RunFor(20ms) returned after %v", d)
		}
	})
}
