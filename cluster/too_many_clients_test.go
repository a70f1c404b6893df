package cluster

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chronon-db/chronon/client"
	"github.com/chronon-db/chronon/wire"
)

// TestDialBeyondTheConnectionSlotsFailsAtOnce: a test-preset cluster
// (ClientsMax 16) holds 16 clients; the 17th Dial fails with
// client.ErrTooManyClients, long before its generous deadline, and the 16
// sessions keep working.
func TestDialBeyondTheConnectionSlotsFailsAtOnce(t *testing.T) {
	c := startCluster(t, 3)
	if err := c.WaitConnected(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	var clients []*client.Client
	for range 16 {
		clients = append(clients, dial(t, c))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	extra, err := client.Dial(ctx, c.ClientConfig())
	if err == nil {
		extra.Close()
		t.Fatal("the 17th client registered")
	}
	if !errors.Is(err, client.ErrTooManyClients) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("17th Dial: %v, want ErrTooManyClients", err)
	}
	t.Logf("17th Dial failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
	// The refusal ended no session.
	for i, cl := range clients {
		if _, err := cl.LookupAccounts(ctx, []wire.Uint128{{Lo: 1}}); err != nil {
			t.Fatalf("client %d after the refusal: %v", i, err)
		}
	}
}

// syncBuffer is a log destination safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls cond (the replica publishes its counters every tick) with a
// generous limit; nothing here asserts speed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRegisteredSessionOutlivesARefusedReconnect: a registered client loses
// its connection while the replica's slots are all taken. Its reconnects
// are refused; the session is kept (a warning is logged) and the call in
// flight completes once a slot frees.
func TestRegisteredSessionOutlivesARefusedReconnect(t *testing.T) {
	c := startCluster(t, 1)
	logs := &syncBuffer{}
	cfg := c.ClientConfig()
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := client.Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.LookupAccounts(ctx, []wire.Uint128{{Lo: 1}}); err != nil {
		t.Fatal(err)
	}
	bus := func() (accepted, closed, refused uint64) {
		m := c.Node(0).Metrics().Bus
		return m.Accepted, m.Closed, m.DropNoSlot
	}
	address := c.Addresses()[0]
	var idle []net.Conn
	defer func() {
		for _, conn := range idle {
			conn.Close()
		}
	}()
	open := func() net.Conn {
		conn, err := net.Dial("tcp", address)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, conn)
		return conn
	}

	// Break the client's connection from outside: a connection that sends
	// a request in its name takes its place (the replica closes the old
	// one and answers the stranger's wrong session with an eviction that
	// goes to the stranger only).
	_, closed0, _ := bus()
	h := wire.Header{
		Cluster: cfg.Cluster, Size: wire.HeaderSize, Protocol: wire.ProtocolVersion, Command: wire.CommandRequest,
		Client: cl.ID(), Session: 1 << 62, Request: 1, Operation: wire.OperationUserMin,
	}
	msg := make([]byte, wire.HeaderSize)
	wire.Seal(&h, msg)
	if _, err := open().Write(msg); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the client's connection closed", func() bool { _, closed, _ := bus(); return closed > closed0 })

	// Take every free slot with clients (a silent connection would give
	// its slot to a newer one): register until the replica refuses one.
	for id := uint64(1); ; id++ {
		_, _, refused0 := bus()
		conn := open()
		h := wire.Header{Cluster: cfg.Cluster, Size: wire.HeaderSize, Protocol: wire.ProtocolVersion, Command: wire.CommandRequest,
			Client: wire.Uint128{Lo: id, Hi: 0xCD}, Operation: wire.OperationRegister}
		wire.Seal(&h, msg)
		if _, err := conn.Write(msg); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		reply := make([]byte, wire.HeaderSize)
		if _, err := io.ReadFull(conn, reply); err != nil {
			t.Fatal(err)
		}
		var got wire.Header
		if err := wire.DecodeHeader(reply, &got, &wire.Config{Cluster: cfg.Cluster, ReplicaCount: 1, MessageSizeMax: cfg.MessageSizeMax}); err != nil {
			t.Fatal(err)
		}
		if got.Command == wire.CommandEviction {
			waitFor(t, "the refusal counted", func() bool { _, _, refused := bus(); return refused > refused0 })
			break
		}
	}

	done := make(chan error, 1)
	go func() {
		_, err := cl.LookupAccounts(ctx, []wire.Uint128{{Lo: 2}})
		done <- err
	}()
	waitFor(t, "the client's warning", func() bool { return strings.Contains(logs.String(), "no connection slot") })
	select {
	case err := <-done:
		t.Fatalf("the call returned while every slot was taken: %v", err)
	default:
	}
	// A slot frees: the client's next retry gets it and the call completes.
	idle[len(idle)-2].Close()
	if err := <-done; err != nil {
		t.Fatalf("call after a slot freed: %v", err)
	}
}
