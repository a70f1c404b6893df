package bus

import (
	"fmt"
	"net"
	"testing"

	"github.com/chronon-db/chronon/wire"
)

// keeper keeps a reference to every request, as a primary's request queue
// does, until release.
type keeper struct {
	recorder
	kept []*wire.Message
}

func (k *keeper) OnMessage(m *wire.Message, h *wire.Header) {
	k.recorder.OnMessage(m, h)
	if h.Command == wire.CommandRequest {
		k.kept = append(k.kept, m.Ref())
	}
}

func (k *keeper) release() {
	for _, m := range k.kept {
		m.Unref()
	}
	k.kept = k.kept[:0]
}

// TestBusBackpressuresWhenTheClientBudgetIsSpent: with a client receive
// budget of two buffers and a handler that keeps every request, the bus
// stops reading from client connections (counted), never takes a buffer
// from the other owners' share and never closes a connection for it; once
// the handler lets go, every request is delivered.
func TestBusBackpressuresWhenTheClientBudgetIsSpent(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend.String(), func(t *testing.T) {
			nd := startNode(t, 1, 0, []string{"127.0.0.1:0"}, backend)
			nd.bus.cfg.Limits.ClientMessagesMax = 2
			k := &keeper{}
			nd.bus.SetHandler(k)
			nodes := []*node{nd}
			address := fmt.Sprintf("127.0.0.1:%d", nd.bus.Port())
			const clients = 4
			for i := 0; i < clients; i++ {
				conn, err := net.Dial("tcp", address)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				// Two requests in one write: the second waits in the buffer
				// of the first when the handler keeps it.
				out := append(clientRequest(wire.Uint128{Lo: uint64(100 + i)}, 1, []byte("a")), clientRequest(wire.Uint128{Lo: uint64(100 + i)}, 2, []byte("b"))...)
				if _, err := conn.Write(out); err != nil {
					t.Fatal(err)
				}
			}
			runUntil(t, nodes, "accepted", func() bool { return nd.bus.Counters.Accepted == clients })
			runUntil(t, nodes, "budget spent", func() bool { return len(k.kept) == 2 && nd.bus.Counters.Backpressure > 0 })
			for i := 0; i < 50; i++ {
				runUntil(t, nodes, "a turn", func() bool { return true })
				nd.bus.Tick()
			}
			if len(k.kept) != 2 || nd.pool.Budgeted() != 2 || nd.pool.Free() != nd.pool.Count()-2 {
				t.Fatalf("handler kept %d requests, %d budgeted buffers, pool free %d of %d", len(k.kept), nd.pool.Budgeted(), nd.pool.Free(), nd.pool.Count())
			}
			if nd.bus.Counters.Closed != 0 || nd.bus.Counters.DropNoBuffer != 0 {
				t.Fatalf("closed %d, no buffer %d: backpressure must not close or drop", nd.bus.Counters.Closed, nd.bus.Counters.DropNoBuffer)
			}
			for delivered := 0; delivered < 2*clients; {
				delivered += len(k.kept)
				k.release()
				if delivered < 2*clients {
					runUntil(t, nodes, "more requests", func() bool { return len(k.kept) > 0 })
				}
			}
			if got := count(&k.recorder, wire.CommandRequest); got != 2*clients {
				t.Fatalf("delivered %d requests, want %d", got, 2*clients)
			}
			if nd.bus.Counters.Closed != 0 {
				t.Fatalf("closed %d connections", nd.bus.Counters.Closed)
			}
		})
	}
}

// TestBusTimesOutSilentAndIdleConnections: an accepted connection that
// sends nothing is closed after HandshakeTimeoutTicks, a client that went
// quiet after IdleTimeoutTicks; both counted.
func TestBusTimesOutSilentAndIdleConnections(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend.String(), func(t *testing.T) {
			nd := startNode(t, 1, 0, []string{"127.0.0.1:0"}, backend)
			nd.bus.cfg.HandshakeTimeoutTicks, nd.bus.cfg.IdleTimeoutTicks = 20, 40
			nodes := []*node{nd}
			address := fmt.Sprintf("127.0.0.1:%d", nd.bus.Port())
			silent, err := net.Dial("tcp", address)
			if err != nil {
				t.Fatal(err)
			}
			defer silent.Close()
			runUntil(t, nodes, "silent connection accepted", func() bool { return nd.bus.Counters.Accepted == 1 })
			client, err := net.Dial("tcp", address)
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			if _, err := client.Write(clientRequest(wire.Uint128{Lo: 5}, 1, nil)); err != nil {
				t.Fatal(err)
			}
			runUntil(t, nodes, "request", func() bool { return count(nd.rec, wire.CommandRequest) == 1 })
			runUntil(t, nodes, "handshake timeout", func() bool { return nd.bus.Counters.TimeoutHandshake == 1 })
			if nd.bus.Counters.TimeoutIdle != 0 || len(nd.bus.clients) != 1 {
				t.Fatalf("idle timeouts %d, clients %d before the idle deadline", nd.bus.Counters.TimeoutIdle, len(nd.bus.clients))
			}
			runUntil(t, nodes, "idle timeout", func() bool { return nd.bus.Counters.TimeoutIdle == 1 })
			if len(nd.bus.clients) != 0 || nd.bus.Counters.TimeoutHandshake != 1 {
				t.Fatalf("clients %d, handshake timeouts %d", len(nd.bus.clients), nd.bus.Counters.TimeoutHandshake)
			}
		})
	}
}

// TestBusConnectionSlotsApartFromSessions: ConnectionsMax, not ClientsMax,
// sizes the client connection slots.
func TestBusConnectionSlotsApartFromSessions(t *testing.T) {
	l := testLimits(3)
	l.ConnectionsMax = 10
	if got := l.Connections(); got != 10 {
		t.Fatalf("Connections() = %d", got)
	}
	if got := IOEntriesNeeded(3, l); got != 3*(2+10)+1 {
		t.Fatalf("IOEntriesNeeded = %d", got)
	}
	l.ConnectionsMax = 0
	if got := l.Connections(); got != l.ClientsMax {
		t.Fatalf("Connections() without ConnectionsMax = %d, want ClientsMax %d", got, l.ClientsMax)
	}
}

// TestBusBoundsPoolBuffersQueuedForClients: message-pool buffers queued
// for clients (large replies, evictions) stop at ClientSendsMax in all,
// counted; buffers of another pool (the replica's reply slots) are not
// counted against it.
func TestBusBoundsPoolBuffersQueuedForClients(t *testing.T) {
	nd := startNode(t, 1, 0, []string{"127.0.0.1:0"}, backends[1])
	nd.bus.cfg.Limits.ClientSendsMax = 1
	nodes := []*node{nd}
	address := fmt.Sprintf("127.0.0.1:%d", nd.bus.Port())
	conn, err := net.Dial("tcp", address)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := wire.Uint128{Lo: 42}
	if _, err := conn.Write(clientRequest(client, 1, nil)); err != nil {
		t.Fatal(err)
	}
	runUntil(t, nodes, "request", func() bool { return count(nd.rec, wire.CommandRequest) == 1 })
	slots, err := wire.NewPool(4, wire.SectorSize)
	if err != nil {
		t.Fatal(err)
	}
	reply := func(p *wire.Pool) *wire.Message {
		return sealedMessage(t, p, wire.Header{Command: wire.CommandReply, Client: client, Context: wire.Uint128{Lo: 1},
			Op: 1, Commit: 1, Timestamp: 1, Request: 1, Operation: wire.OperationUserMin}, nil)
	}
	// The IO has not run: both pool messages sit in the queue (at most
	// ClientSendQueueMax = 2 per connection), the second beyond the total.
	a, b, s := reply(nd.pool), reply(nd.pool), reply(slots)
	nd.bus.SendToClient(client, a)
	nd.bus.SendToClient(client, b)
	if nd.bus.Counters.DropClientSends != 1 || nd.bus.clientSends != 1 {
		t.Fatalf("DropClientSends %d, client sends %d; want 1 and 1", nd.bus.Counters.DropClientSends, nd.bus.clientSends)
	}
	nd.bus.SendToClient(client, s)
	if nd.bus.Counters.DropClientSends != 1 || nd.bus.clientSends != 1 {
		t.Fatalf("a reply slot counted against ClientSendsMax: drops %d, client sends %d", nd.bus.Counters.DropClientSends, nd.bus.clientSends)
	}
	a.Unref()
	b.Unref()
	s.Unref()
	runUntil(t, nodes, "sends", func() bool { return nd.bus.Counters.MessagesOut == 2 })
	if nd.bus.clientSends != 0 {
		t.Fatalf("client sends %d after the queue drained", nd.bus.clientSends)
	}
}
