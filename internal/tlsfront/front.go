// Package tlsfront terminates TLS for client connections in front of a
// replica: it listens on an address of its own, completes the TLS
// handshake with each client (crypto/tls, certificates from files), and
// relays the client's bytes to the replica's plaintext port and back.
//
// The replica's bus and its io_uring path stay plaintext and unchanged; the
// front runs on goroutines with Go's net package, outside the replica's
// event loop. A relayed connection reaches the replica from loopback, so
// the front applies the per-address limit itself (the bus exempts
// loopback), bounds its connections, and opens the replica connection only
// once the client has completed the handshake and sent its first bytes: a
// client that stays silent never takes one of the replica's slots. The
// replica's idle timeout still applies to the relayed connection; when the
// replica closes it, the front closes the client's.
package tlsfront

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a Front.
type Config struct {
	// Listen is the "host:port" TLS clients connect to (port 0 picks one;
	// see Front.Addr).
	Listen string
	// Backend is the replica's plaintext "host:port", normally on
	// loopback.
	Backend string
	// TLS holds the server certificate; its MinVersion is raised to TLS
	// 1.2 when lower.
	TLS *tls.Config
	// ConnectionsMax bounds the client connections at once; one more is
	// closed at accept (Counters.Refused).
	ConnectionsMax int
	// ConnectionsPerAddress bounds one source address's connections (0:
	// no bound; loopback addresses are exempt, as on the bus); one more is
	// closed at accept.
	ConnectionsPerAddress int
	// HandshakeTimeout bounds the TLS handshake and the wait for the
	// client's first bytes (default 6 s, the replica's own handshake
	// deadline by default).
	HandshakeTimeout time.Duration
	// Logger receives a line per kind of refusal, at most once a second.
	Logger *slog.Logger
}

// Counters are a Front's metrics.
type Counters struct {
	Accepted        atomic.Uint64 // client connections accepted
	Refused         atomic.Uint64 // closed at accept: ConnectionsMax or ConnectionsPerAddress reached
	HandshakeFailed atomic.Uint64 // TLS handshake failed or timed out, or no first bytes in time
	BackendFailed   atomic.Uint64 // the replica could not be reached
	Relayed         atomic.Uint64 // connections relayed to the replica
}

// Front is a running TLS front.
type Front struct {
	cfg    Config
	ln     net.Listener
	wg     sync.WaitGroup
	mu     sync.Mutex
	active map[net.Conn]netip.Addr
	perIP  map[netip.Addr]int
	closed bool
	// logged is when a refusal was last logged (unix nanoseconds).
	logged atomic.Int64

	// Counters are the front's metrics.
	Counters Counters
}

// ErrConfig means a Config is unusable.
var ErrConfig = errors.New("tlsfront: invalid config")

// Start listens on cfg.Listen and serves until Close.
func Start(cfg Config) (*Front, error) {
	if cfg.TLS == nil || len(cfg.TLS.Certificates) == 0 && cfg.TLS.GetCertificate == nil {
		return nil, fmt.Errorf("%w: no certificate", ErrConfig)
	}
	if cfg.Backend == "" || cfg.ConnectionsMax < 1 || cfg.ConnectionsPerAddress < 0 {
		return nil, fmt.Errorf("%w: backend %q, connections max %d, per address %d", ErrConfig, cfg.Backend, cfg.ConnectionsMax, cfg.ConnectionsPerAddress)
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 6 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.TLS = cfg.TLS.Clone()
	if cfg.TLS.MinVersion < tls.VersionTLS12 {
		cfg.TLS.MinVersion = tls.VersionTLS12
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("tlsfront: %w", err)
	}
	f := &Front{cfg: cfg, ln: ln, active: map[net.Conn]netip.Addr{}, perIP: map[netip.Addr]int{}}
	f.wg.Add(1)
	go f.serve()
	return f, nil
}

// Addr returns the address the front listens on.
func (f *Front) Addr() string { return f.ln.Addr().String() }

// Close stops accepting, closes every connection and waits for the
// front's goroutines.
func (f *Front) Close() error {
	f.mu.Lock()
	f.closed = true
	for c := range f.active {
		c.Close()
	}
	f.mu.Unlock()
	err := f.ln.Close()
	f.wg.Wait()
	return err
}

func (f *Front) serve() {
	defer f.wg.Done()
	for {
		conn, err := f.ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			// Out of file descriptors, or a connection reset before
			// accept: try again shortly.
			f.logRefusal("tlsfront: accept failed", "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		f.Counters.Accepted.Add(1)
		if !f.admit(conn) {
			f.Counters.Refused.Add(1)
			f.logRefusal("tlsfront: refused a client connection: too many connections, or too many from its address")
			conn.Close()
			continue
		}
		f.wg.Add(1)
		go f.relay(conn)
	}
}

// admit records conn, or reports that the limits leave no room for it.
func (f *Front) admit(conn net.Conn) bool {
	var ip netip.Addr
	if a, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
		ip = a.AddrPort().Addr().Unmap()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed || len(f.active) >= f.cfg.ConnectionsMax ||
		(f.cfg.ConnectionsPerAddress > 0 && !ip.IsLoopback() && f.perIP[ip] >= f.cfg.ConnectionsPerAddress) {
		return false
	}
	f.active[conn] = ip
	f.perIP[ip]++
	return true
}

func (f *Front) forget(conn net.Conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ip, ok := f.active[conn]
	if !ok {
		return
	}
	delete(f.active, conn)
	if f.perIP[ip]--; f.perIP[ip] == 0 {
		delete(f.perIP, ip)
	}
}

// relay completes the TLS handshake on raw, waits for the client's first
// bytes, then connects to the replica and copies both ways until either
// side closes.
func (f *Front) relay(raw net.Conn) {
	defer f.wg.Done()
	defer f.forget(raw)
	defer raw.Close()
	conn := tls.Server(raw, f.cfg.TLS)
	deadline := time.Now().Add(f.cfg.HandshakeTimeout)
	_ = conn.SetDeadline(deadline)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	first := make([]byte, 4096)
	n := 0
	err := conn.HandshakeContext(ctx)
	if err == nil {
		n, err = conn.Read(first)
	}
	if err != nil {
		f.Counters.HandshakeFailed.Add(1)
		return
	}
	_ = conn.SetDeadline(time.Time{})
	d := net.Dialer{Timeout: f.cfg.HandshakeTimeout}
	backend, err := d.Dial("tcp", f.cfg.Backend)
	if err != nil {
		f.Counters.BackendFailed.Add(1)
		f.logRefusal("tlsfront: cannot reach the replica", "err", err)
		return
	}
	defer backend.Close()
	if tcp, ok := backend.(*net.TCPConn); ok {
		_ = tcp.SetNoDelay(true)
	}
	if tcp, ok := raw.(*net.TCPConn); ok {
		_ = tcp.SetNoDelay(true)
	}
	f.Counters.Relayed.Add(1)
	if _, err := backend.Write(first[:n]); err != nil {
		return
	}
	done := make(chan struct{})
	go func() {
		// Replica to client; the replica closing ends the relay.
		_, _ = io.Copy(conn, backend)
		raw.Close()
		close(done)
	}()
	_, _ = io.Copy(backend, conn)
	backend.Close()
	<-done
}

// logRefusal writes msg at most once a second.
func (f *Front) logRefusal(msg string, args ...any) {
	now := time.Now().UnixNano()
	last := f.logged.Load()
	if now-last < int64(time.Second) || !f.logged.CompareAndSwap(last, now) {
		return
	}
	f.cfg.Logger.Warn(msg, append(args, "accepted_total", f.Counters.Accepted.Load(), "refused_total", f.Counters.Refused.Load(),
		"handshake_failed_total", f.Counters.HandshakeFailed.Load())...)
}
