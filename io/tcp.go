package io

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"golang.org/x/sys/unix"
)

// TCP sockets. Everything a TCP endpoint needs besides the loop operations
// (Accept, Connect, Recv, Send, CloseFd) lives here, so that callers such as
// the message bus make no system call of their own: address resolution
// (ResolveTCP), listening (IO.ListenTCP), dialling (IO.DialTCP), socket
// options (SetTCPOptions), the bound address (LocalTCPAddr), the peer's
// address (RemoteTCPAddr), a synchronous
// close for shutdown paths (CloseSocket) and a synchronous non-blocking send
// for a last message before such a close (SendNonBlocking). The sockets are the
// same on both backends except for their blocking mode, which OpenSocket
// picks for the backend.

// TCPAddr is a resolved TCP endpoint: an IPv4 or IPv6 address and a port.
// The zero value is invalid. A TCPAddr is immutable and cheap to copy.
type TCPAddr struct {
	// sa is a *unix.SockaddrInet4 or *unix.SockaddrInet6 never modified
	// after ResolveTCP or LocalTCPAddr made it; Connect may keep it until
	// its callback ran.
	sa unix.Sockaddr
}

// ResolveTCP turns "host:port" into a TCPAddr. The host may be an IPv4 or
// IPv6 literal ("[::1]:3000") or a name, which is looked up now (the first
// address the resolver returns wins; an IPv4-mapped address is IPv4); port 0
// asks ListenTCP for a free port. IPv6 zones (link-local scope) are not
// supported. Errors name the address and wrap the cause (ErrInvalid for a
// malformed address, the resolver's error for a failed lookup).
func ResolveTCP(ctx context.Context, address string) (TCPAddr, error) {
	host, portText, err := net.SplitHostPort(address)
	if err != nil {
		return TCPAddr{}, fmt.Errorf("%w: address %q: %w", ErrInvalid, address, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 0xffff {
		return TCPAddr{}, fmt.Errorf("%w: address %q: port %q is not a number in [0, 65535]", ErrInvalid, address, portText)
	}
	ips, err := net.DefaultResolver.LookupIP(ctx, "ip", host)
	if err != nil {
		return TCPAddr{}, fmt.Errorf("io: resolve %q: %w", address, err)
	}
	if len(ips) == 0 {
		return TCPAddr{}, fmt.Errorf("io: resolve %q: no address for host %q", address, host)
	}
	if ip4 := ips[0].To4(); ip4 != nil {
		sa := &unix.SockaddrInet4{Port: port}
		copy(sa.Addr[:], ip4)
		return TCPAddr{sa: sa}, nil
	}
	sa := &unix.SockaddrInet6{Port: port}
	copy(sa.Addr[:], ips[0].To16())
	return TCPAddr{sa: sa}, nil
}

// Port returns the address's port (0 for the zero TCPAddr).
func (a TCPAddr) Port() int {
	switch sa := a.sa.(type) {
	case *unix.SockaddrInet4:
		return sa.Port
	case *unix.SockaddrInet6:
		return sa.Port
	}
	return 0
}

// IsIPv6 reports whether the address is an IPv6 address (one that is not
// IPv4-mapped).
func (a TCPAddr) IsIPv6() bool {
	_, ok := a.sa.(*unix.SockaddrInet6)
	return ok
}

// String returns "ip:port" ("[ip]:port" for IPv6), or "invalid" for the zero
// TCPAddr.
func (a TCPAddr) String() string {
	switch sa := a.sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port)).String()
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(sa.Port)).String()
	}
	return "invalid"
}

// IP returns the address without its port (IPv4-mapped IPv6 addresses as
// IPv4), or the zero netip.Addr for the zero TCPAddr.
func (a TCPAddr) IP() netip.Addr {
	switch sa := a.sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrFrom4(sa.Addr)
	case *unix.SockaddrInet6:
		return netip.AddrFrom16(sa.Addr).Unmap()
	}
	return netip.Addr{}
}

// family returns the socket domain of a, or 0 for the zero TCPAddr.
func (a TCPAddr) family() int {
	switch a.sa.(type) {
	case *unix.SockaddrInet4:
		return unix.AF_INET
	case *unix.SockaddrInet6:
		return unix.AF_INET6
	}
	return 0
}

// ListenTCP opens a TCP socket listening on addr with the given backlog
// (<= 0: 128) for Accept: close-on-exec, SO_REUSEADDR (a restarted process
// can listen again on a port whose old connections are in TIME_WAIT), in the
// blocking mode the backend needs. Errors name the step (socket,
// setsockopt, bind, listen) and the address and wrap the errno
// (errors.Is(err, unix.EADDRINUSE) works, and ErrAddrInUse); on error
// nothing is left open.
// The caller closes the socket, with CloseFd or CloseSocket.
func (io *IO) ListenTCP(addr TCPAddr, backlog int) (int, error) {
	family := addr.family()
	if family == 0 {
		return -1, fmt.Errorf("%w: listen on the zero TCPAddr", ErrInvalid)
	}
	if backlog <= 0 {
		backlog = 128
	}
	fd, err := io.OpenSocket(family, unix.SOCK_STREAM, 0)
	if err != nil {
		return -1, fmt.Errorf("io: listen %s: %w", addr, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("io: listen %s: setsockopt SO_REUSEADDR: %w", addr, err)
	}
	if err := unix.Bind(fd, addr.sa); err != nil {
		unix.Close(fd)
		if err == unix.EADDRINUSE {
			return -1, fmt.Errorf("io: listen %s: bind: %w: %w", addr, ErrAddrInUse, err)
		}
		return -1, fmt.Errorf("io: listen %s: bind: %w", addr, err)
	}
	if err := unix.Listen(fd, backlog); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("io: listen %s: listen: %w", addr, err)
	}
	return fd, nil
}

// DialTCP opens a TCP socket for addr's family (as OpenSocket) and submits
// Connect of it to addr with c. It returns the socket, which belongs to the
// caller from then on whatever the connect's outcome: close it after the
// callback ran (with CloseFd or CloseSocket), or cancel c and close it. If
// DialTCP returns an error (a submission error such as ErrQueueFull, or the
// socket's errno, wrapped and naming the address), nothing was submitted
// and nothing is left open.
func (io *IO) DialTCP(c *Completion, addr TCPAddr) (int, error) {
	family := addr.family()
	if family == 0 {
		return -1, fmt.Errorf("%w: dial the zero TCPAddr", ErrInvalid)
	}
	fd, err := io.OpenSocket(family, unix.SOCK_STREAM, 0)
	if err != nil {
		return -1, fmt.Errorf("io: dial %s: %w", addr, err)
	}
	if err := io.Connect(c, fd, addr.sa); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("io: dial %s: %w", addr, err)
	}
	return fd, nil
}

// TCPOptions are the options SetTCPOptions sets on a connected TCP socket.
type TCPOptions struct {
	// NoDelay disables Nagle's algorithm (TCP_NODELAY): small writes leave
	// at once. false leaves the socket's setting alone.
	NoDelay bool
	// SendBuffer and RecvBuffer request kernel buffer sizes in bytes
	// (SO_SNDBUF, SO_RCVBUF; the kernel may double or cap them, see
	// socket(7)). 0 leaves the kernel's default (and its autotuning).
	SendBuffer, RecvBuffer int
}

// SetTCPOptions applies o to the socket fd. It stops at the first option
// the kernel refuses and returns an error naming it and wrapping the errno.
func SetTCPOptions(fd int, o TCPOptions) error {
	if o.SendBuffer < 0 || o.RecvBuffer < 0 {
		return fmt.Errorf("%w: TCPOptions buffer sizes %d, %d", ErrInvalid, o.SendBuffer, o.RecvBuffer)
	}
	if o.NoDelay {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
			return fmt.Errorf("io: setsockopt TCP_NODELAY fd %d: %w", fd, err)
		}
	}
	if o.SendBuffer > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, o.SendBuffer); err != nil {
			return fmt.Errorf("io: setsockopt SO_SNDBUF fd %d: %w", fd, err)
		}
	}
	if o.RecvBuffer > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, o.RecvBuffer); err != nil {
			return fmt.Errorf("io: setsockopt SO_RCVBUF fd %d: %w", fd, err)
		}
	}
	return nil
}

// LocalTCPAddr returns the address the socket fd is bound to (for a
// listener on port 0: the port the kernel picked).
func LocalTCPAddr(fd int) (TCPAddr, error) {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return TCPAddr{}, fmt.Errorf("io: getsockname fd %d: %w", fd, err)
	}
	switch sa.(type) {
	case *unix.SockaddrInet4, *unix.SockaddrInet6:
		return TCPAddr{sa: sa}, nil
	}
	return TCPAddr{}, fmt.Errorf("%w: fd %d is not an IPv4 or IPv6 socket", ErrInvalid, fd)
}

// RemoteTCPAddr returns the address of the other end of the connected
// socket fd (for an accepted connection: the client's address and port).
func RemoteTCPAddr(fd int) (TCPAddr, error) {
	sa, err := unix.Getpeername(fd)
	if err != nil {
		return TCPAddr{}, fmt.Errorf("io: getpeername fd %d: %w", fd, err)
	}
	switch sa.(type) {
	case *unix.SockaddrInet4, *unix.SockaddrInet6:
		return TCPAddr{sa: sa}, nil
	}
	return TCPAddr{}, fmt.Errorf("%w: fd %d is not connected over IPv4 or IPv6", ErrInvalid, fd)
}

// SendNonBlocking writes b to the connected socket fd at once, outside the
// event loop, without ever blocking, whatever the socket's blocking mode
// (MSG_DONTWAIT; a closed peer gives an error, not SIGPIPE). It returns the
// number of bytes the kernel took, which may be fewer than len(b); with a
// full send buffer the error wraps EAGAIN (or EWOULDBLOCK). It is for one
// short message right before CloseSocket, such as the bus's refusal of a
// connection it has no slot for: a fresh socket's send buffer is empty, so
// a message smaller than it goes out whole. Do not mix it with Send in
// flight on the same socket. It does not allocate when it succeeds.
func SendNonBlocking(fd int, b []byte) (int, error) {
	if fd < 0 {
		return 0, fmt.Errorf("%w: send on fd %d", ErrInvalid, fd)
	}
	for {
		n, err := sysSend(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("io: send fd %d: %w", fd, err)
		}
		return n, nil
	}
}

// CloseSocket closes fd at once, outside the event loop, for shutdown and
// error paths where IO.CloseFd cannot be used (the IO is full or closed).
// Cancel the operations in flight on fd first: unlike CloseFd it cancels
// nothing. The error wraps the errno.
func CloseSocket(fd int) error {
	if fd < 0 {
		return fmt.Errorf("%w: close fd %d", ErrInvalid, fd)
	}
	if err := unix.Close(fd); err != nil {
		return fmt.Errorf("io: close fd %d: %w", fd, err)
	}
	return nil
}
