package bus

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chronon-db/chronon/wire"
)

// readAll reads conn on a goroutine until it ends (EOF, reset or a 10 s
// deadline) and delivers what arrived and how it ended, while runUntil
// drives the nodes.
func readAll(conn net.Conn) <-chan readResult {
	done := make(chan readResult, 1)
	go func() {
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		var got bytes.Buffer
		_, err := io.Copy(&got, conn)
		done <- readResult{got.Bytes(), err}
	}()
	return done
}

type readResult struct {
	got []byte
	err error // nil: EOF
}

// ended reports whether the read ended by the other side (not the
// deadline), and stores its result.
func ended(ch <-chan readResult, r *readResult) func() bool {
	return func() bool {
		select {
		case *r = <-ch:
			var ne net.Error
			return r.err == nil || !(errors.As(r.err, &ne) && ne.Timeout())
		default:
			return false
		}
	}
}

func dialFrom(t *testing.T, local, address string) net.Conn {
	t.Helper()
	d := net.Dialer{}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	conn, err := d.Dial("tcp", address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func isRefusal(t *testing.T, b []byte, cfg *wire.Config) bool {
	t.Helper()
	var h wire.Header
	return len(b) == wire.HeaderSize && wire.DecodeHeader(b, &h, cfg) == nil &&
		h.Command == wire.CommandEviction && wire.EvictionReason(h.Reason) == wire.EvictionTooManyConnections
}

// TestBusClosesTheOldestSilentConnectionForANewOne: with every slot held by
// connections that said nothing, a new connection takes the slot of the
// oldest of them (closed, counted, logged once) and its client is bound;
// nothing is refused.
func TestBusClosesTheOldestSilentConnectionForANewOne(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend.String(), func(t *testing.T) {
			nd := startNode(t, 1, 0, []string{"127.0.0.1:0"}, backend)
			var logged bytes.Buffer
			nd.bus.cfg.Logger = slog.New(slog.NewTextHandler(&logged, nil))
			nodes := []*node{nd}
			address := fmt.Sprintf("127.0.0.1:%d", nd.bus.Port())
			slots := len(nd.bus.conns)
			var silent []net.Conn
			for range slots {
				silent = append(silent, dialFrom(t, "", address))
				n := len(silent)
				runUntil(t, nodes, "silent connection accepted", func() bool { return nd.bus.Counters.Accepted == uint64(n) })
			}
			oldest := readAll(silent[0])
			client := dialFrom(t, "", address)
			if _, err := client.Write(clientRequest(wire.Uint128{Lo: 7}, 1, nil)); err != nil {
				t.Fatal(err)
			}
			runUntil(t, nodes, "the new client bound", func() bool { return nd.bus.clients[wire.Uint128{Lo: 7}] != nil })
			var r readResult
			runUntil(t, nodes, "the oldest silent connection closed", ended(oldest, &r))
			if len(r.got) != 0 {
				t.Fatalf("the closed silent connection received %d bytes", len(r.got))
			}
			c := nd.bus.Counters
			if c.EvictedSilent != 1 || c.DropNoSlot != 0 || c.Accepted != uint64(slots+1) {
				t.Fatalf("evicted %d, refused %d, accepted %d", c.EvictedSilent, c.DropNoSlot, c.Accepted)
			}
			runUntil(t, nodes, "logged", func() bool { return strings.Contains(logged.String(), "closed silent connections") })
		})
	}
}

// TestBusLimitsConnectionsPerAddress: an address at ConnectionsPerAddress
// with no silent connection has a further one refused with eviction
// too_many_connections (counted, logged); one with a silent connection has
// that one closed for the newcomer; another address is not affected.
func TestBusLimitsConnectionsPerAddress(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend.String(), func(t *testing.T) {
			nd := startNode(t, 1, 0, []string{"127.0.0.1:0"}, backend, func(c *Config) {
				c.ConnectionsPerAddress, c.LimitLoopback = 2, true
				c.Limits.ClientsMax = 8
			})
			var logged bytes.Buffer
			nd.bus.cfg.Logger = slog.New(slog.NewTextHandler(&logged, nil))
			nodes := []*node{nd}
			address := fmt.Sprintf("127.0.0.1:%d", nd.bus.Port())
			bound := func(id uint64) func() bool {
				return func() bool { return nd.bus.clients[wire.Uint128{Lo: id}] != nil }
			}
			for id := uint64(1); id <= 2; id++ {
				conn := dialFrom(t, "127.0.0.1", address)
				if _, err := conn.Write(clientRequest(wire.Uint128{Lo: id}, 1, nil)); err != nil {
					t.Fatal(err)
				}
				runUntil(t, nodes, "client bound", bound(id))
			}
			third := dialFrom(t, "127.0.0.1", address)
			if _, err := third.Write(clientRequest(wire.Uint128{Lo: 3}, 1, nil)); err != nil {
				t.Fatal(err)
			}
			var r readResult
			runUntil(t, nodes, "the third connection refused", ended(readAll(third), &r))
			if len(r.got) < wire.HeaderSize || !isRefusal(t, r.got[:wire.HeaderSize], &nd.bus.cfg.Wire) {
				t.Fatalf("third connection from one address got %x (%v), want eviction too_many_connections", r.got, r.err)
			}
			if c := nd.bus.Counters; c.DropPerAddress != 1 || c.DropNoSlot != 0 || nd.bus.clients[wire.Uint128{Lo: 3}] != nil {
				t.Fatalf("per-address refusals %d, no-slot refusals %d", c.DropPerAddress, c.DropNoSlot)
			}

			// Another address: one client and one silent connection reach
			// its limit; a newcomer from it replaces the silent one.
			other := dialFrom(t, "127.0.0.2", address)
			if _, err := other.Write(clientRequest(wire.Uint128{Lo: 4}, 1, nil)); err != nil {
				t.Fatal(err)
			}
			runUntil(t, nodes, "client of the other address bound", bound(4))
			accepted := nd.bus.Counters.Accepted
			silent := dialFrom(t, "127.0.0.2", address)
			runUntil(t, nodes, "silent connection accepted", func() bool { return nd.bus.Counters.Accepted == accepted+1 })
			closed := readAll(silent)
			newcomer := dialFrom(t, "127.0.0.2", address)
			if _, err := newcomer.Write(clientRequest(wire.Uint128{Lo: 5}, 1, nil)); err != nil {
				t.Fatal(err)
			}
			runUntil(t, nodes, "the newcomer bound", bound(5))
			runUntil(t, nodes, "the silent connection closed", ended(closed, &r))
			if c := nd.bus.Counters; c.EvictedSilent != 1 || c.DropPerAddress != 1 {
				t.Fatalf("evicted %d, per-address refusals %d", c.EvictedSilent, c.DropPerAddress)
			}
			runUntil(t, nodes, "logged", func() bool { return strings.Contains(logged.String(), "too many from one address") })
		})
	}
}

// TestBusPeersConnectThroughAFlood: every slot of two replicas is held by
// silent connections (more wait in the kernel's backlog) before their
// peers come up; the peers still connect, accepted in place of the oldest
// silent connections and dialled from slots kept free for them.
func TestBusPeersConnectThroughAFlood(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend.String(), func(t *testing.T) {
			addrs := []string{"127.0.0.1:0", "127.0.0.1:1", "127.0.0.1:1"}
			n0 := startNode(t, 3, 0, addrs, backend)
			addrs[0] = fmt.Sprintf("127.0.0.1:%d", n0.bus.Port())
			addrs[1] = "127.0.0.1:0"
			n1 := startNode(t, 3, 1, append([]string(nil), addrs...), backend)
			addrs[1] = fmt.Sprintf("127.0.0.1:%d", n1.bus.Port())
			flood := func(nd *node, address string) {
				for range 2 * len(nd.bus.conns) {
					dialFrom(t, "", address)
				}
			}
			flood(n0, addrs[0])
			flood(n1, addrs[1])
			runUntil(t, []*node{n0}, "replica 0's slots taken", func() bool { return n0.bus.Counters.Accepted >= uint64(len(n0.bus.conns)) })
			addrs[2] = "127.0.0.1:0"
			n2 := startNode(t, 3, 2, append([]string(nil), addrs...), backend)
			nodes := []*node{n0, n1, n2}
			runUntil(t, nodes, "full mesh through the flood", func() bool { return allConnected(nodes) })
			if n0.bus.Counters.EvictedSilent == 0 || n1.bus.Counters.EvictedSilent == 0 {
				t.Fatalf("silent connections closed: %d and %d", n0.bus.Counters.EvictedSilent, n1.bus.Counters.EvictedSilent)
			}
		})
	}
}

// fdLimit returns the process's limit on open files, or 0 when it cannot
// tell.
func fdLimit() int {
	entries, err := os.ReadFile("/proc/self/limits")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(entries), "\n") {
		if strings.HasPrefix(line, "Max open files") {
			var soft int
			if _, err := fmt.Sscan(strings.TrimPrefix(line, "Max open files"), &soft); err == nil {
				return soft
			}
		}
	}
	return 0
}
