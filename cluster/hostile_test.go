package cluster

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/chronon-db/chronon/client"
	"github.com/chronon-db/chronon/wire"
)

// registerRaw opens a connection to address and registers client id on it
// with a hand-made request, waiting for the reply; the connection then
// stays open and silent, as a careless client's would.
func registerRaw(t *testing.T, address string, cluster wire.Uint128, id uint64) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	h := wire.Header{Cluster: cluster, Size: wire.HeaderSize, Protocol: wire.ProtocolVersion, Command: wire.CommandRequest,
		Client: wire.Uint128{Lo: id, Hi: 0xAB}, Operation: wire.OperationRegister}
	msg := make([]byte, wire.HeaderSize)
	wire.Seal(&h, msg)
	if _, err := conn.Write(msg); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.ReadFull(conn, msg); err != nil {
		t.Fatalf("raw client %d: register reply: %v", id, err)
	}
	var reply wire.Header
	if err := wire.DecodeHeader(msg, &reply, &wire.Config{Cluster: cluster, ReplicaCount: 1, MessageSizeMax: wire.MessageSizeMaxTest}); err != nil || reply.Command != wire.CommandReply {
		t.Fatalf("raw client %d: got %+v (%v), want a reply", id, reply, err)
	}
	_ = conn.SetReadDeadline(time.Time{})
	return conn
}

// openSilent opens n connections to address that never send a byte.
func openSilent(t *testing.T, address string, n int) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, 0, n)
	for range n {
		conn, err := net.Dial("tcp", address)
		if err != nil {
			t.Fatalf("connection %d of %d: %v", len(conns)+1, n, err)
		}
		conns = append(conns, conn)
	}
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	return conns
}

// TestFiveHundredIdleConnectionsDoNotLockClientsOut: 500 connections to a
// test-preset replica (16 client connection slots) that never say a word
// do not keep a new client from registering: it takes the slot of the
// oldest of them. When instead all 16 slots hold registered clients that
// went quiet, a new client is refused (ErrTooManyClients) until their idle
// deadline closes them, and registers on its next try after it.
func TestFiveHundredIdleConnectionsDoNotLockClientsOut(t *testing.T) {
	const flood = 500
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur < 3*flood {
		t.Skipf("needs %d open files (this test's %d connections, both ends, and the replica's); the limit is %d (%v): raise ulimit -n", 3*flood, flood, lim.Cur, err)
	}
	const idle = 2 * time.Second // the handshake deadline is a tenth of it
	c, err := Start(Config{Replicas: 1, Dir: t.TempDir(), NewStateMachine: newLedger, ClientIdleTimeout: idle})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = c.Stop() })
	address := c.Addresses()[0]
	bus := func() (m struct{ accepted, evicted, refused, timeoutIdle uint64 }) {
		b := c.Node(0).Metrics().Bus
		m.accepted, m.evicted, m.refused, m.timeoutIdle = b.Accepted, b.EvictedSilent, b.DropNoSlot, b.TimeoutIdle
		return m
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// Silent connections: a new client takes the oldest one's slot.
	silent := openSilent(t, address, flood)
	waitFor(t, "the slots taken by silent connections", func() bool { return bus().accepted >= 16 })
	cl, err := client.Dial(ctx, c.ClientConfig())
	if err != nil {
		t.Fatalf("Dial through %d silent connections: %v", flood, err)
	}
	if _, err := cl.LookupAccounts(ctx, []wire.Uint128{{Lo: 1}}); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	if m := bus(); m.evicted == 0 {
		t.Fatalf("no silent connection was closed for the client: %+v", m)
	}
	for _, conn := range silent {
		conn.Close()
	}

	// Registered clients gone quiet hold every slot, with silent
	// connections behind them: refused until the idle deadline.
	for id := range uint64(16) {
		registerRaw(t, address, wire.Uint128{Lo: 1}, id+1)
	}
	registered := time.Now()
	openSilent(t, address, flood-16)
	if _, err := client.Dial(ctx, c.ClientConfig()); !errors.Is(err, client.ErrTooManyClients) {
		t.Fatalf("Dial while registered clients hold every slot: %v, want ErrTooManyClients", err)
	}
	var tries int
	for {
		tries++
		cl, err = client.Dial(ctx, c.ClientConfig())
		if err == nil {
			break
		}
		if !errors.Is(err, client.ErrTooManyClients) {
			t.Fatalf("Dial after %d tries: %v", tries, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	defer cl.Close()
	m := bus()
	if m.timeoutIdle == 0 {
		t.Fatalf("a client registered with every slot held and no idle timeout: %+v", m)
	}
	t.Logf("registered %v after the quiet clients' idle deadline (%d tries); %+v", time.Since(registered.Add(idle)).Round(time.Millisecond), tries, m)
}
