package io

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Raw syscalls keep the fallback's socket path allocation-free (the x/sys
// wrappers decode peer addresses we do not need).

func sysRecv(fd int, b []byte) (int, error) {
	n, _, errno := unix.Syscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)), unix.MSG_DONTWAIT, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

func sysSend(fd int, b []byte) (int, error) {
	n, _, errno := unix.Syscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)), unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

func sysAccept(fd int) (int, error) {
	nfd, _, errno := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(fd), 0, 0, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
	if errno != 0 {
		return -1, errno
	}
	return int(nfd), nil
}

func fdatasync(fd int) error { return unix.Fdatasync(fd) }

// pwriteDurable writes b at off and makes it durable in one syscall:
// pwritev2(RWF_DSYNC), Linux >= 4.7. Where the kernel or file system refuses
// the flag it falls back to pwrite followed by fdatasync. The iovec lives on
// the stack (unix.Pwritev2 would allocate one per call).
func pwriteDurable(fd int, b []byte, off int64) (int, error) {
	var iov unix.Iovec
	if len(b) > 0 {
		iov.Base = unsafe.SliceData(b)
		iov.SetLen(len(b))
	}
	lo, hi := uintptr(off), uintptr(uint64(off)>>(unix.SizeofLong*8-1)>>1) // as x/sys offs2lohi
	n, _, errno := unix.Syscall6(unix.SYS_PWRITEV2, uintptr(fd), uintptr(unsafe.Pointer(&iov)), 1, lo, hi, unix.RWF_DSYNC)
	switch errno {
	case 0:
		return int(n), nil
	case unix.ENOSYS, unix.EOPNOTSUPP:
		return pwriteThenSync(fd, b, off)
	}
	return 0, errno
}

func openNonblockingSocket(family, sotype, proto int) (int, error) {
	return unix.Socket(family, sotype|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
}
