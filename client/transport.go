package client

import (
	"crypto/tls"
	"io"
	"net"
	"sync"
	"time"

	"github.com/chronon-db/chronon/wire"
)

// reply is a verified message from a replica.
type reply struct {
	header wire.Header
	body   []byte
}

// transport keeps one TCP connection per replica, dialled on first use and
// redialled after errors, and funnels verified replies into one channel.
type transport struct {
	cfg     Config
	wcfg    wire.Config
	replies chan reply
	done    chan struct{}
	mu      sync.Mutex
	conns   []net.Conn
	readers sync.WaitGroup
}

func newTransport(cfg Config, wcfg wire.Config) *transport {
	return &transport{
		cfg:     cfg,
		wcfg:    wcfg,
		replies: make(chan reply, 64),
		done:    make(chan struct{}),
		conns:   make([]net.Conn, len(cfg.Addresses)),
	}
}

// send writes msg to replica i, dialling if needed, and reports whether it
// was written. A failure is otherwise not returned: the driver's retry
// resends.
func (t *transport) send(i int, msg []byte) bool {
	conn := t.conn(i)
	if conn == nil {
		return false
	}
	_ = conn.SetWriteDeadline(time.Now().Add(t.cfg.RetryInterval * 10))
	if _, err := conn.Write(msg); err != nil {
		t.drop(i, conn)
		return false
	}
	return true
}

// broadcast sends msg to every replica: after a timeout the client does not
// know which replica is primary.
func (t *transport) broadcast(msg []byte) {
	for i := range t.conns {
		t.send(i, msg)
	}
}

func (t *transport) conn(i int) net.Conn {
	t.mu.Lock()
	defer t.mu.Unlock()
	select {
	case <-t.done:
		return nil
	default:
	}
	if t.conns[i] != nil {
		return t.conns[i]
	}
	var conn net.Conn
	var err error
	if t.cfg.TLS != nil {
		d := tls.Dialer{NetDialer: &net.Dialer{Timeout: t.cfg.RetryInterval * 10}, Config: t.cfg.TLS}
		conn, err = d.Dial("tcp", t.cfg.Addresses[i])
	} else {
		conn, err = net.DialTimeout("tcp", t.cfg.Addresses[i], t.cfg.RetryInterval*10)
	}
	if err != nil {
		t.cfg.Logger.Debug("client: dial failed", "replica", i, "err", err)
		return nil
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetNoDelay(true)
	}
	if tc, ok := conn.(*tls.Conn); ok {
		if tcp, ok := tc.NetConn().(*net.TCPConn); ok {
			_ = tcp.SetNoDelay(true)
		}
	}
	t.conns[i] = conn
	t.readers.Add(1)
	go t.read(i, conn)
	return conn
}

func (t *transport) drop(i int, conn net.Conn) {
	t.mu.Lock()
	if t.conns[i] == conn {
		t.conns[i] = nil
	}
	t.mu.Unlock()
	conn.Close()
}

// read delivers verified messages from one connection until it fails.
// Anything that does not verify closes the connection.
func (t *transport) read(i int, conn net.Conn) {
	defer t.readers.Done()
	defer t.drop(i, conn)
	var head [wire.HeaderSize]byte
	for {
		if _, err := io.ReadFull(conn, head[:]); err != nil {
			return
		}
		var h wire.Header
		if err := wire.DecodeHeader(head[:], &h, &t.wcfg); err != nil {
			t.cfg.Logger.Warn("client: invalid header from replica", "replica", i, "err", err)
			return
		}
		body := make([]byte, h.BodySize())
		if _, err := io.ReadFull(conn, body); err != nil {
			return
		}
		if err := wire.VerifyBody(&h, body); err != nil {
			t.cfg.Logger.Warn("client: invalid body from replica", "replica", i, "err", err)
			return
		}
		if h.Command != wire.CommandReply && h.Command != wire.CommandEviction && h.Command != wire.CommandRedirect {
			continue
		}
		select {
		case t.replies <- reply{header: h, body: body}:
		case <-t.done:
			return
		}
	}
}

func (t *transport) close() {
	t.mu.Lock()
	close(t.done)
	for i, c := range t.conns {
		if c != nil {
			c.Close()
			t.conns[i] = nil
		}
	}
	t.mu.Unlock()
	t.readers.Wait()
}
