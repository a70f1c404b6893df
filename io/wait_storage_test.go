package io

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

// TestWaitStorageInsideACallback: a socket callback waits for a file write
// with WaitStorage (as the journal does from a replica's message handler).
// Only storage callbacks run inside it; the socket callback that finished
// meanwhile runs after, from the loop, and Wait stays refused inside.
func TestWaitStorageInsideACallback(t *testing.T) {
	forEachBackend(t, 64, func(t *testing.T, io *IO) {
		f := openTestFile(t, 1<<20)
		a, b := connectPair(t, io, true)
		buf := AlignedBuffer(SectorSize)
		rbuf, rbuf2 := make([]byte, 16), make([]byte, 16)
		wc, wo := newOp()
		sc, so := newOp()
		other, oo := newOp()
		var inside struct {
			ran                  bool
			writeDone, otherDone bool
			waitErr              error
			runs                 int
		}
		trigger := &Completion{Callback: func(c *Completion) {
			inside.ran = true
			if c.Err != nil || c.Result != 1 {
				t.Errorf("trigger recv: %d %v", c.Result, c.Err)
			}
			// A second message is already on its way: its receive finishes
			// while we wait for the disk, and must not run in here.
			if err := io.Recv(other, b, rbuf2); err != nil {
				t.Error(err)
			}
			if _, err := unix.Write(a, []byte{2}); err != nil {
				t.Error(err)
			}
			if err := io.WriteFile(wc, f, buf, 0); err != nil {
				t.Error(err)
			}
			if err := io.Fdatasync(sc, f.Fd); err != nil {
				t.Error(err)
			}
			for !wo.done || !so.done {
				inside.runs++
				if inside.runs > 1000 {
					t.Error("storage operations did not complete")
					return
				}
				if _, err := io.WaitStorage(int64(100e6)); err != nil {
					t.Error(err)
					return
				}
			}
			inside.writeDone, inside.otherDone = wo.done, oo.done
			_, inside.waitErr = io.Wait(0)
		}}
		if err := io.Recv(trigger, b, rbuf); err != nil {
			t.Fatal(err)
		}
		if _, err := unix.Write(a, []byte{1}); err != nil {
			t.Fatal(err)
		}
		runUntil(t, io, func() bool { return inside.ran && oo.done })
		if !inside.writeDone || wo.err != nil || so.err != nil {
			t.Fatalf("write %+v sync %+v", *wo, *so)
		}
		if inside.otherDone {
			t.Error("a socket callback ran inside WaitStorage")
		}
		if !errors.Is(inside.waitErr, ErrReentrant) {
			t.Errorf("Wait inside a callback: %v, want ErrReentrant", inside.waitErr)
		}
		if oo.err != nil || oo.n != 1 || rbuf2[0] != 2 {
			t.Errorf("second receive: %+v %v", *oo, rbuf2[0])
		}
	})
}
