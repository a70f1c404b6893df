package bus

import (
	"fmt"
	"net"
	"strconv"

	"golang.org/x/sys/unix"
)

// resolveTCP turns "host:port" into a socket address. Host names are looked
// up once, at start-up.
func resolveTCP(address string) (unix.Sockaddr, int, error) {
	host, portText, err := net.SplitHostPort(address)
	if err != nil {
		return nil, 0, fmt.Errorf("bus: address %q: %w", address, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return nil, 0, fmt.Errorf("bus: address %q: invalid port", address)
	}
	ips, err := net.LookupIP(host)
	if err != nil || len(ips) == 0 {
		return nil, 0, fmt.Errorf("bus: address %q: cannot resolve host: %w", address, err)
	}
	if ip4 := ips[0].To4(); ip4 != nil {
		sa := &unix.SockaddrInet4{Port: port}
		copy(sa.Addr[:], ip4)
		return sa, unix.AF_INET, nil
	}
	sa := &unix.SockaddrInet6{Port: port}
	copy(sa.Addr[:], ips[0].To16())
	return sa, unix.AF_INET6, nil
}

// listenTCP opens a listening socket on address.
func listenTCP(address string) (int, error) {
	sa, family, err := resolveTCP(address)
	if err != nil {
		return -1, err
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM, 0)
	if err != nil {
		return -1, fmt.Errorf("bus: socket: %w", err)
	}
	unix.CloseOnExec(fd)
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("bus: SO_REUSEADDR: %w", err)
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("bus: bind %s: %w", address, err)
	}
	if err := unix.Listen(fd, 128); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("bus: listen %s: %w", address, err)
	}
	return fd, nil
}

// tuneSocket sets TCP_NODELAY (messages are whole frames; latency matters)
// and generous buffers for 1 MiB prepares.
func tuneSocket(fd int) {
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
}

// localPort returns the port a listening socket is bound to.
func localPort(fd int) int {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return 0
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return a.Port
	case *unix.SockaddrInet6:
		return a.Port
	}
	return 0
}

// closeNow closes fd synchronously (shutdown paths only).
func closeNow(fd int) {
	if fd >= 0 {
		_ = unix.Close(fd)
	}
}
