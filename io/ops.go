package io

import "golang.org/x/sys/unix"

// Read reads into buf from fd at offset. For O_DIRECT files buf, len(buf) and
// offset must be multiples of SectorSize (see AlignedBuffer). Result is the
// number of bytes read: fewer than len(buf) near the end of file, 0 at or past it.
func (io *IO) Read(c *Completion, fd int, buf []byte, offset int64) error {
	if err := io.start(c, OpRead, fd, buf, offset); err != nil {
		return err
	}
	return io.submit(c)
}

// Write writes buf to fd at offset. The same alignment rules as Read apply to
// O_DIRECT files. Result is the number of bytes written, which may be short.
// The data is durable only after a later Fsync or Fdatasync completed.
func (io *IO) Write(c *Completion, fd int, buf []byte, offset int64) error {
	if err := io.start(c, OpWrite, fd, buf, offset); err != nil {
		return err
	}
	return io.submit(c)
}

// ReadFile is Read on a data file opened with OpenDataFile. Such a descriptor
// is known to be a regular file or block device, so the io_uring backend may
// run a lone ReadFile inline (see WriteFile) without checking the descriptor
// first. f must stay open until the callback ran; close it only with f.Close.
func (io *IO) ReadFile(c *Completion, f *File, buf []byte, offset int64) error {
	return io.fileOp(c, OpRead, f, buf, offset)
}

// WriteFile is Write on a data file opened with OpenDataFile. When the loop is
// about to sleep with nothing but file operations in flight, the io_uring
// backend performs them as plain syscalls instead of through the ring (see
// docs/io.md, "Lone file operations run inline"); operations submitted with
// ReadFile, WriteFile and WriteDurable qualify without any check, while Read
// and Write on a raw descriptor cost one lseek(2) to prove the descriptor is
// not a socket or pipe, on which a blocking call could hang the loop. f must
// stay open until the callback ran; close it only with f.Close, which sets
// f.Fd to -1 (closing f.Fd some other way could let a socket reuse the number
// while f still names it).
func (io *IO) WriteFile(c *Completion, f *File, buf []byte, offset int64) error {
	return io.fileOp(c, OpWrite, f, buf, offset)
}

// WriteDurable is WriteFile followed by Fdatasync in one operation: the
// callback runs once the data written is on stable storage (the write carries
// RWF_DSYNC; on systems without pwritev2 it is pwrite then fdatasync). Result
// is the number of bytes written and made durable, which may be short.
func (io *IO) WriteDurable(c *Completion, f *File, buf []byte, offset int64) error {
	return io.fileOp(c, OpWriteDurable, f, buf, offset)
}

func (io *IO) fileOp(c *Completion, op Operation, f *File, buf []byte, offset int64) error {
	if f == nil {
		return ErrInvalid
	}
	if err := io.start(c, op, f.Fd, buf, offset); err != nil {
		return err
	}
	c.file = true
	return io.submit(c)
}

// Fsync flushes fd's data and metadata to stable storage. It is not ordered
// with operations still in flight: submit it after the writes it must cover
// completed.
func (io *IO) Fsync(c *Completion, fd int) error {
	if err := io.start(c, OpFsync, fd, nil, 0); err != nil {
		return err
	}
	return io.submit(c)
}

// Fdatasync is Fsync without the metadata not needed to read the data back.
func (io *IO) Fdatasync(c *Completion, fd int) error {
	if err := io.start(c, OpFdatasync, fd, nil, 0); err != nil {
		return err
	}
	return io.submit(c)
}

// Accept accepts a connection on the listening socket fd. Result is the new
// socket's file descriptor (close-on-exec; non-blocking on the fallback).
func (io *IO) Accept(c *Completion, fd int) error {
	if err := io.start(c, OpAccept, fd, nil, 0); err != nil {
		return err
	}
	return io.submit(c)
}

// Connect connects the socket fd to sa (*unix.SockaddrInet4, *unix.SockaddrInet6
// or *unix.SockaddrUnix). The IO keeps the address until the callback ran.
func (io *IO) Connect(c *Completion, fd int, sa unix.Sockaddr) error {
	if !validSockaddr(sa) {
		return ErrInvalid
	}
	if err := io.start(c, OpConnect, fd, nil, 0); err != nil {
		return err
	}
	c.sa = sa
	return io.submit(c)
}

// Recv receives into buf from the connected socket fd. Result is the number of
// bytes received; 0 with a nil Err means the peer shut down its side (EOF).
func (io *IO) Recv(c *Completion, fd int, buf []byte) error {
	if err := io.start(c, OpRecv, fd, buf, 0); err != nil {
		return err
	}
	return io.submit(c)
}

// Send sends buf on the connected socket fd (never raising SIGPIPE). Result is
// the number of bytes sent, which may be short.
func (io *IO) Send(c *Completion, fd int, buf []byte) error {
	if err := io.start(c, OpSend, fd, buf, 0); err != nil {
		return err
	}
	return io.submit(c)
}

// CloseFd closes fd. Operations of this IO still in flight on fd are canceled
// first and complete with ErrCanceled (io_uring: best effort, a file operation
// already running in the kernel finishes normally; needs Linux >= 5.19).
func (io *IO) CloseFd(c *Completion, fd int) error {
	if err := io.start(c, OpClose, fd, nil, 0); err != nil {
		return err
	}
	return io.submit(c)
}

// Timeout completes c after ns nanoseconds (monotonic clock) with a nil Err, or
// with ErrCanceled if canceled first. Timeouts of equal deadline fire in
// submission order.
func (io *IO) Timeout(c *Completion, ns int64) error {
	if ns < 0 {
		return ErrInvalid
	}
	if err := io.start(c, OpTimeout, -1, nil, 0); err != nil {
		return err
	}
	c.deadline = ns
	return io.submit(c)
}

// validSockaddr accepts the address types both backends can connect to.
func validSockaddr(sa unix.Sockaddr) bool {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return a != nil && a.Port >= 0 && a.Port <= 0xffff
	case *unix.SockaddrInet6:
		return a != nil && a.Port >= 0 && a.Port <= 0xffff
	case *unix.SockaddrUnix:
		return a != nil && a.Name != "" && len(a.Name) < len(unix.RawSockaddrUnix{}.Path)
	}
	return false
}
