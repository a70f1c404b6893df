package io

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// userData identifies c's current submission in SQEs and CQEs.
func userData(c *Completion) uint64 { return uint64(c.gen)<<32 | uint64(c.slot) }

// bufAddr is the address of b's first byte for the kernel (0 when empty). The
// IO keeps b reachable through the in-flight Completion until its CQE arrives;
// Go's heap does not move objects.
func bufAddr(b []byte) uint64 {
	if len(b) == 0 {
		return 0
	}
	return uint64(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
}

// submit turns c into an SQE. Nothing reaches the kernel before the next poll.
func (r *uring) submit(c *Completion) error {
	if c.op == OpConnect {
		n, ok := encodeSockaddr(&c.rawSa, c.sa)
		if !ok {
			return ErrInvalid
		}
		c.saLen = n
	}
	if (c.op == OpSend || c.op == OpRecv) && r.trySocket(c) {
		return nil
	}
	if c.op == OpClose {
		// Cancel this IO's operations on the fd first: closing a file
		// descriptor does not end io_uring requests that hold the file.
		if s := r.getSQE(); s != nil {
			s.opcode = ioringOpAsyncCancel
			s.fd = int32(c.fd)
			s.opFlags = ioringAsyncCancelAll | ioringAsyncCancelFd
			s.userData = cancelUserData
			r.othersPending++
		}
	}
	s := r.getSQE()
	if s == nil {
		r.publish()
		return ErrQueueFull
	}
	s.fd = int32(c.fd)
	s.userData = userData(c)
	switch c.op {
	case OpRead, OpWrite, OpWriteDurable:
		s.opcode = ioringOpRead
		if c.op != OpRead {
			s.opcode = ioringOpWrite
		}
		if c.op == OpWriteDurable {
			s.opFlags = unix.RWF_DSYNC // rw_flags
		}
		s.addr, s.len, s.off = bufAddr(c.buf), uint32(len(c.buf)), uint64(c.offset)
	case OpFsync:
		s.opcode = ioringOpFsync
	case OpFdatasync:
		s.opcode = ioringOpFsync
		s.opFlags = ioringFsyncDatasync
	case OpAccept:
		s.opcode = ioringOpAccept
		s.opFlags = unix.SOCK_CLOEXEC
	case OpConnect:
		s.opcode = ioringOpConnect
		s.addr = uint64(uintptr(unsafe.Pointer(&c.rawSa)))
		s.off = uint64(c.saLen)
	case OpRecv:
		s.opcode = ioringOpRecv
		s.addr, s.len = bufAddr(c.buf), uint32(len(c.buf))
		r.recvsInRing[c.fd&(socketBuckets-1)]++
	case OpSend:
		s.opcode = ioringOpSend
		s.addr, s.len = bufAddr(c.buf), uint32(len(c.buf))
		s.opFlags = unix.MSG_NOSIGNAL
		r.sendsInRing[c.fd&(socketBuckets-1)]++
	case OpClose:
		s.opcode = ioringOpClose
		// A Send or Recv submitted after CloseFd must not run before the
		// close: it goes through the ring behind it, as before.
		r.sendsInRing[c.fd&(socketBuckets-1)]++
		r.recvsInRing[c.fd&(socketBuckets-1)]++
	case OpTimeout:
		s.opcode = ioringOpTimeout
		s.fd = -1
		c.ts[0], c.ts[1] = c.deadline/1e9, c.deadline%1e9
		s.addr, s.len = uint64(uintptr(unsafe.Pointer(&c.ts))), 1
		s.opFlags = ioringTimeoutRelative
	default:
		panic("io: io_uring submit of unknown operation " + c.op.String())
	}
	if c.op != OpRecv {
		r.othersPending++
	}
	r.publish()
	return nil
}

// trySocket performs a Send or Recv at once as one non-blocking syscall
// (sendto/recvfrom with MSG_DONTWAIT, the fallback's raw path: no allocation)
// and reports whether that finished c; the callback still runs only from the
// loop. It is skipped while an operation of the same kind on a descriptor of
// the same bucket is in the ring, so it never overtakes an earlier Send (or
// Recv) on the socket. If the socket would block, c goes through the ring. A
// Recv that found no data makes the next receives on that bucket skip the
// attempt for a while (see recvBackoff).
func (r *uring) trySocket(c *Completion) bool {
	var n int
	var err error
	bucket := c.fd & (socketBuckets - 1)
	if r.noInlineSock {
		return false
	}
	if c.op == OpSend {
		if r.sendsInRing[bucket] != 0 {
			return false
		}
		n, err = sysSend(c.fd, c.buf)
	} else {
		if r.recvsInRing[bucket] != 0 {
			return false
		}
		if r.recvSkip[bucket] > 0 {
			r.recvSkip[bucket]--
			return false
		}
		n, err = sysRecv(c.fd, c.buf)
		if err == unix.EAGAIN {
			b := min(r.recvBackoff[bucket]+1, recvBackoffMax)
			r.recvBackoff[bucket], r.recvSkip[bucket] = b, 1<<b-1
		} else {
			r.recvBackoff[bucket] = 0
		}
	}
	if err == unix.EAGAIN || err == unix.EINTR {
		return false
	}
	if err != nil {
		n = 0
	}
	r.inlineSocket++
	r.io.finish(c, n, err)
	return true
}

// leftRing updates the send/recv counts when c's CQE arrived.
func (r *uring) leftRing(c *Completion) {
	switch c.op {
	case OpSend:
		r.sendsInRing[c.fd&(socketBuckets-1)]--
	case OpRecv:
		r.recvsInRing[c.fd&(socketBuckets-1)]--
	case OpClose:
		r.sendsInRing[c.fd&(socketBuckets-1)]--
		r.recvsInRing[c.fd&(socketBuckets-1)]--
	}
}

// cancel submits an IORING_OP_ASYNC_CANCEL for c. If the SQ ring is full the
// request is dropped and c.cancel stays false (shutdown retries).
func (r *uring) cancel(c *Completion) {
	s := r.getSQE()
	if s == nil {
		return
	}
	s.opcode = ioringOpAsyncCancel
	s.fd = -1
	s.addr = userData(c)
	s.userData = cancelUserData
	r.othersPending++
	r.publish()
	c.cancel = true
}

// encodeSockaddr writes sa in kernel layout into raw and returns its length.
func encodeSockaddr(raw *[14]uint64, sa any) (uint32, bool) {
	*raw = [14]uint64{}
	p := unsafe.Pointer(raw)
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		if a.Port < 0 || a.Port > 0xffff {
			return 0, false
		}
		rsa := (*unix.RawSockaddrInet4)(p)
		rsa.Family = unix.AF_INET
		port := (*[2]byte)(unsafe.Pointer(&rsa.Port))
		port[0], port[1] = byte(a.Port>>8), byte(a.Port)
		rsa.Addr = a.Addr
		return unix.SizeofSockaddrInet4, true
	case *unix.SockaddrInet6:
		if a.Port < 0 || a.Port > 0xffff {
			return 0, false
		}
		rsa := (*unix.RawSockaddrInet6)(p)
		rsa.Family = unix.AF_INET6
		port := (*[2]byte)(unsafe.Pointer(&rsa.Port))
		port[0], port[1] = byte(a.Port>>8), byte(a.Port)
		rsa.Scope_id = a.ZoneId
		rsa.Addr = a.Addr
		return unix.SizeofSockaddrInet6, true
	case *unix.SockaddrUnix:
		rsa := (*unix.RawSockaddrUnix)(p)
		name := a.Name
		if len(name) == 0 || len(name) >= len(rsa.Path) {
			return 0, false
		}
		rsa.Family = unix.AF_UNIX
		for i := 0; i < len(name); i++ {
			rsa.Path[i] = int8(name[i])
		}
		n := uint32(2 + len(name) + 1)
		if name[0] == '@' { // abstract socket: leading NUL, no trailing NUL
			rsa.Path[0] = 0
			n--
		}
		return n, true
	}
	return 0, false
}
