//go:build unix

package io

import (
	"math"

	"golang.org/x/sys/unix"
)

// fallback is the portable engine. File operations run synchronously at
// submission (their callbacks still wait for the next Tick). Socket operations
// are tried at once without blocking; if they would block they are parked and
// retried when poll(2) reports readiness. Timeouts are kept in an array sorted
// by deadline. No goroutines: the caller's thread blocks in poll(2) only.
type fallback struct {
	io     *IO
	parked []*Completion // socket operations waiting for readiness, in submission order
	timers []*Completion // timeouts by deadline; FIFO among equal deadlines
	pfds   []unix.PollFd // scratch for poll(2), parallel to parked
}

func newFallback(io *IO, entries int) (engine, error) {
	return &fallback{
		io:     io,
		parked: make([]*Completion, 0, entries),
		timers: make([]*Completion, 0, entries),
		pfds:   make([]unix.PollFd, 0, entries),
	}, nil
}

func (f *fallback) submit(c *Completion) error {
	switch c.op {
	case OpRead:
		n, err := retryEINTR(func() (int, error) { return unix.Pread(c.fd, c.buf, c.offset) })
		f.finish(c, n, err)
	case OpWrite:
		n, err := retryEINTR(func() (int, error) { return unix.Pwrite(c.fd, c.buf, c.offset) })
		f.finish(c, n, err)
	case OpWriteDurable:
		n, err := retryEINTR(func() (int, error) { return pwriteDurable(c.fd, c.buf, c.offset) })
		f.finish(c, n, err)
	case OpFsync:
		f.finish(c, 0, unix.Fsync(c.fd))
	case OpFdatasync:
		f.finish(c, 0, fdatasync(c.fd))
	case OpClose:
		f.cancelFd(c.fd)
		f.finish(c, 0, unix.Close(c.fd))
	case OpTimeout:
		c.deadline += monotonic()
		f.addTimer(c)
	case OpAccept, OpConnect:
		if err := unix.SetNonblock(c.fd, true); err != nil {
			f.finish(c, 0, err)
			return nil
		}
		if c.op == OpConnect {
			err := unix.Connect(c.fd, c.sa.(unix.Sockaddr))
			if err == unix.EINPROGRESS || err == unix.EINTR {
				f.park(c, unix.POLLOUT)
			} else {
				f.finish(c, 0, err)
			}
			return nil
		}
		f.attempt(c)
	case OpRecv, OpSend:
		f.attempt(c)
	default:
		panic("io: fallback submit of unknown operation " + c.op.String())
	}
	return nil
}

// attempt tries a socket operation without blocking and parks it if it would block.
func (f *fallback) attempt(c *Completion) {
	n, err := f.try(c)
	if err == unix.EAGAIN || err == unix.EWOULDBLOCK || err == unix.EINTR {
		events := int16(unix.POLLIN)
		if c.op == OpSend {
			events = unix.POLLOUT
		}
		f.park(c, events)
		return
	}
	f.finish(c, n, err)
}

// try performs one non-blocking attempt of a socket operation.
func (f *fallback) try(c *Completion) (int, error) {
	switch c.op {
	case OpAccept:
		return sysAccept(c.fd)
	case OpRecv:
		return sysRecv(c.fd, c.buf)
	case OpSend:
		return sysSend(c.fd, c.buf)
	case OpConnect:
		v, err := unix.GetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if err != nil {
			return 0, err
		}
		if v != 0 {
			return 0, unix.Errno(v)
		}
		return 0, nil
	}
	panic("io: fallback try of operation " + c.op.String())
}

func (f *fallback) finish(c *Completion, n int, err error) {
	if err != nil {
		n = 0
	}
	f.io.finish(c, n, err)
}

func (f *fallback) park(c *Completion, events int16) {
	if len(f.parked) == cap(f.parked) {
		panic("io: fallback parked list exceeds the in-flight bound")
	}
	c.events = events
	f.parked = append(f.parked, c)
}

func (f *fallback) addTimer(c *Completion) {
	if len(f.timers) == cap(f.timers) {
		panic("io: fallback timer list exceeds the in-flight bound")
	}
	i := len(f.timers)
	for i > 0 && f.timers[i-1].deadline > c.deadline {
		i--
	}
	f.timers = append(f.timers, nil)
	copy(f.timers[i+1:], f.timers[i:])
	f.timers[i] = c
}

func (f *fallback) poll(timeoutNs int64, _ bool) error {
	if f.io.storageDone.n > 0 {
		timeoutNs = 0
	}
	if len(f.timers) > 0 {
		timeoutNs = min(timeoutNs, max(f.timers[0].deadline-monotonic(), 0))
	}
	if len(f.parked) > 0 || timeoutNs > 0 {
		f.pfds = f.pfds[:0]
		for _, c := range f.parked {
			f.pfds = append(f.pfds, unix.PollFd{Fd: int32(c.fd), Events: c.events})
		}
		ms := int((timeoutNs + 999_999) / 1e6) // round up: never wake before a deadline
		if timeoutNs > int64(math.MaxInt32)*1e6 {
			ms = math.MaxInt32
		}
		n, err := unix.Poll(f.pfds, ms)
		if err != nil && err != unix.EINTR {
			return &OpError{Op: OpNone, Fd: -1, Err: err}
		}
		if n > 0 {
			f.retryReady()
		}
	}
	f.expireTimers()
	return nil
}

// retryReady retries the parked operations poll(2) reported ready, keeping the
// rest parked in order.
func (f *fallback) retryReady() {
	kept := 0
	for i, c := range f.parked {
		if f.pfds[i].Revents != 0 {
			n, err := f.try(c)
			if err != unix.EAGAIN && err != unix.EWOULDBLOCK && err != unix.EINTR {
				f.finish(c, n, err)
				continue
			}
		}
		f.parked[kept] = c
		kept++
	}
	clear(f.parked[kept:])
	f.parked = f.parked[:kept]
}

func (f *fallback) expireTimers() {
	if len(f.timers) == 0 {
		return
	}
	now := monotonic()
	n := 0
	for n < len(f.timers) && f.timers[n].deadline <= now {
		f.finish(f.timers[n], 0, nil)
		n++
	}
	f.timers = removeFirst(f.timers, n)
}

func removeFirst(s []*Completion, n int) []*Completion {
	if n == 0 {
		return s
	}
	k := copy(s, s[n:])
	clear(s[k:])
	return s[:k]
}

// remove deletes c from s, keeping the order, and reports whether it was there.
func remove(s *[]*Completion, c *Completion) bool {
	for i, x := range *s {
		if x == c {
			copy((*s)[i:], (*s)[i+1:])
			(*s)[len(*s)-1] = nil
			*s = (*s)[:len(*s)-1]
			return true
		}
	}
	return false
}

func (f *fallback) cancel(c *Completion) {
	if remove(&f.parked, c) || remove(&f.timers, c) {
		f.io.finish(c, 0, ErrCanceled)
	}
}

func (f *fallback) cancelFd(fd int) {
	kept := 0
	for _, c := range f.parked {
		if c.fd == fd {
			f.io.finish(c, 0, ErrCanceled)
			continue
		}
		f.parked[kept] = c
		kept++
	}
	clear(f.parked[kept:])
	f.parked = f.parked[:kept]
}

func (f *fallback) shutdown() {
	for _, c := range f.parked {
		f.io.finish(c, 0, ErrCanceled)
	}
	for _, c := range f.timers {
		f.io.finish(c, 0, ErrCanceled)
	}
	clear(f.parked)
	clear(f.timers)
	f.parked, f.timers = f.parked[:0], f.timers[:0]
}

func (f *fallback) release() error { return nil }

func (f *fallback) openSocket(family, sotype, proto int) (int, error) {
	return openNonblockingSocket(family, sotype, proto)
}

func retryEINTR(op func() (int, error)) (int, error) {
	for {
		n, err := op()
		if err != unix.EINTR {
			return n, err
		}
	}
}

// pwriteThenSync is a durable write as two syscalls: pwrite, then fdatasync
// (fsync where fdatasync does not exist).
func pwriteThenSync(fd int, b []byte, off int64) (int, error) {
	n, err := retryEINTR(func() (int, error) { return unix.Pwrite(fd, b, off) })
	if err != nil {
		return 0, err
	}
	for {
		err = fdatasync(fd)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return 0, err
	}
	return n, nil
}
