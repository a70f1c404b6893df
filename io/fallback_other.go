//go:build unix && !linux

package io

import "golang.org/x/sys/unix"

func sysRecv(fd int, b []byte) (int, error) {
	n, _, err := unix.Recvfrom(fd, b, unix.MSG_DONTWAIT)
	return n, err
}

func sysSend(fd int, b []byte) (int, error) {
	return unix.SendmsgN(fd, b, nil, nil, unix.MSG_DONTWAIT)
}

func sysAccept(fd int) (int, error) {
	nfd, _, err := unix.Accept(fd)
	if err != nil {
		return -1, err
	}
	unix.CloseOnExec(nfd)
	if err := unix.SetNonblock(nfd, true); err != nil {
		unix.Close(nfd)
		return -1, err
	}
	return nfd, nil
}

// fdatasync: not every Unix has fdatasync(2); fsync is the portable superset.
func fdatasync(fd int) error { return unix.Fsync(fd) }

// pwriteDurable: no pwritev2 outside Linux; data files there use O_SYNC anyway.
func pwriteDurable(fd int, b []byte, off int64) (int, error) { return pwriteThenSync(fd, b, off) }

func openNonblockingSocket(family, sotype, proto int) (int, error) {
	fd, err := unix.Socket(family, sotype, proto)
	if err != nil {
		return -1, err
	}
	unix.CloseOnExec(fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}
