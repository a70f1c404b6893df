package bus

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	cio "github.com/chronon-db/chronon/io"
	"github.com/chronon-db/chronon/wire"
)

var testCluster = wire.Uint128{Lo: 0xB05}

type received struct {
	header wire.Header
	body   []byte
}

type recorder struct {
	got  []received
	keep []*wire.Message // references kept, as a replica keeps prepares
	hold bool
}

func (r *recorder) OnMessage(m *wire.Message, h *wire.Header) {
	r.got = append(r.got, received{header: *h, body: append([]byte(nil), m.Buffer[wire.HeaderSize:h.Size]...)})
	if r.hold && h.Command == wire.CommandPrepare {
		r.keep = append(r.keep, m.Ref())
	}
}

type node struct {
	io   *cio.IO
	bus  *Bus
	pool *wire.Pool
	rec  *recorder
}

func testLimits(replicas int) wire.Limits {
	l := wire.LimitsTest
	l.ReplicaCount = replicas
	l.ClientsMax = 4
	return l
}

// startNodes starts n buses on loopback; replica i dials replicas below it.
func startNodes(t *testing.T, n int, backend cio.Backend, configure ...func(*Config)) []*node {
	t.Helper()
	addrs := make([]string, n)
	for i := range addrs {
		addrs[i] = "127.0.0.1:1"
	}
	var nodes []*node
	for i := 0; i < n; i++ {
		addrs[i] = "127.0.0.1:0"
		nd := startNode(t, n, uint8(i), append([]string(nil), addrs...), backend, configure...)
		addrs[i] = fmt.Sprintf("127.0.0.1:%d", nd.bus.Port())
		nodes = append(nodes, nd)
	}
	return nodes
}

func startNode(t *testing.T, n int, replica uint8, addrs []string, backend cio.Backend, configure ...func(*Config)) *node {
	t.Helper()
	limits := testLimits(n)
	ioq, err := cio.New(cio.Options{Entries: IOEntriesNeeded(n, limits), Backend: backend, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	pool, err := wire.NewPool(limits.MessagesMax(), limits.MessageSizeMax)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Wire:                wire.Config{Cluster: testCluster, ReplicaCount: uint8(n), MessageSizeMax: limits.MessageSizeMax},
		Replica:             replica,
		Addresses:           addrs,
		Limits:              limits,
		DialBackoffMinTicks: 2,
		Seed:                1,
	}
	for _, f := range configure {
		f(&cfg)
	}
	b, err := New(cfg, ioq, pool)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	b.SetHandler(rec)
	nd := &node{io: ioq, bus: b, pool: pool, rec: rec}
	t.Cleanup(func() { nd.stop() })
	return nd
}

func (nd *node) stop() {
	if nd.bus.closed {
		return
	}
	nd.bus.Close()
	_ = nd.io.Close()
}

// runUntil drives every node's event loop until cond holds (or fails after a
// generous wall-clock limit; nothing here asserts speed).
func runUntil(t *testing.T, nodes []*node, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		for _, nd := range nodes {
			if nd.bus.closed {
				continue
			}
			if err := nd.io.RunFor(int64(200 * time.Microsecond)); err != nil {
				t.Fatal(err)
			}
			nd.bus.Tick()
		}
	}
}

func allConnected(nodes []*node) bool {
	for i, nd := range nodes {
		for j := range nodes {
			if i != j && !nd.bus.Connected(uint8(j)) {
				return false
			}
		}
	}
	return true
}

// sealedMessage builds a valid message of the given command in a pool buffer.
func sealedMessage(t *testing.T, pool *wire.Pool, h wire.Header, body []byte) *wire.Message {
	t.Helper()
	m, err := pool.Get()
	if err != nil {
		t.Fatal(err)
	}
	h.Cluster, h.Protocol = testCluster, wire.ProtocolVersion
	h.Size = uint32(wire.HeaderSize + len(body))
	copy(m.Buffer[wire.HeaderSize:], body)
	wire.Seal(&h, m.Bytes(h.Size))
	return m
}

func prepareHeader(from uint8, op uint64) wire.Header {
	return wire.Header{Command: wire.CommandPrepare, Replica: from, Op: op, Timestamp: op, Parent: wire.Uint128{Lo: op}, Operation: wire.OperationBatch}
}

var backends = []cio.Backend{cio.BackendIOUring, cio.BackendFallback}

func TestBusReplicasConnectAndExchange(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend.String(), func(t *testing.T) {
			nodes := startNodes(t, 3, backend)
			runUntil(t, nodes, "full mesh", func() bool { return allConnected(nodes) })

			// A full-size prepare from 0 to 1 and 2, sharing one buffer.
			body := bytes.Repeat([]byte{0xAB, 0xCD, 0x01}, (wire.MessageSizeMaxTest-wire.HeaderSize)/3)
			m := sealedMessage(t, nodes[0].pool, prepareHeader(0, 1), body)
			nodes[0].bus.SendToReplica(1, m)
			nodes[0].bus.SendToReplica(2, m)
			m.Unref()
			// Many small messages the other way, to exercise framing of
			// several messages per receive.
			for op := uint64(1); op <= 3; op++ {
				ok := sealedMessage(t, nodes[2].pool, wire.Header{Command: wire.CommandPrepareOK, Replica: 2, Op: op, Context: wire.Uint128{Lo: op}}, nil)
				nodes[2].bus.SendToReplica(0, ok)
				ok.Unref()
			}
			runUntil(t, nodes, "delivery", func() bool {
				return count(nodes[1].rec, wire.CommandPrepare) == 1 && count(nodes[2].rec, wire.CommandPrepare) == 1 &&
					count(nodes[0].rec, wire.CommandPrepareOK) == 3
			})
			for _, i := range []int{1, 2} {
				got := find(nodes[i].rec, wire.CommandPrepare)
				if !bytes.Equal(got.body, body) {
					t.Fatalf("replica %d received a different body", i)
				}
			}
			var ops []uint64
			for _, r := range nodes[0].rec.got {
				if r.header.Command == wire.CommandPrepareOK {
					ops = append(ops, r.header.Op)
				}
			}
			if fmt.Sprint(ops) != "[1 2 3]" {
				t.Fatalf("prepare_oks out of order: %v", ops)
			}
			// Every buffer went back to its pool once sent and delivered.
			runUntil(t, nodes, "buffers released", func() bool {
				return nodes[0].pool.Free() == nodes[0].pool.Count()-connectionsOf(nodes[0].bus)
			})
		})
	}
}

func count(r *recorder, c wire.Command) int {
	n := 0
	for _, x := range r.got {
		if x.header.Command == c {
			n++
		}
	}
	return n
}

func find(r *recorder, c wire.Command) received {
	for _, x := range r.got {
		if x.header.Command == c {
			return x
		}
	}
	return received{}
}

// connectionsOf counts the pool buffers held by open connections (a large
// message being received).
func connectionsOf(b *Bus) int {
	n := 0
	for i := range b.conns {
		if b.conns[i].big != nil {
			n++
		}
	}
	return n
}

func clientRequest(client wire.Uint128, request uint32, body []byte) []byte {
	h := wire.Header{
		Cluster: testCluster, Protocol: wire.ProtocolVersion, Command: wire.CommandRequest,
		Client: client, Session: 1, Request: request, Operation: wire.OperationUserMin,
		Size: uint32(wire.HeaderSize + len(body)),
	}
	msg := make([]byte, h.Size)
	copy(msg[wire.HeaderSize:], body)
	wire.Seal(&h, msg)
	return msg
}

func TestBusClientRequestAndReply(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend.String(), func(t *testing.T) {
			nodes := startNodes(t, 1, backend)
			conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", nodes[0].bus.Port()))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			client := wire.Uint128{Lo: 77}
			// Two requests in one write: framing must split them.
			out := append(clientRequest(client, 1, []byte("hello")), clientRequest(client, 2, []byte("world"))...)
			if _, err := conn.Write(out); err != nil {
				t.Fatal(err)
			}
			runUntil(t, nodes, "requests", func() bool { return count(nodes[0].rec, wire.CommandRequest) == 2 })
			if string(nodes[0].rec.got[1].body) != "world" {
				t.Fatalf("second request body %q", nodes[0].rec.got[1].body)
			}
			reply := sealedMessage(t, nodes[0].pool, wire.Header{
				Command: wire.CommandReply, Client: client, Context: wire.Uint128{Lo: 1}, Op: 1, Commit: 1,
				Timestamp: 1, Request: 1, Operation: wire.OperationUserMin,
			}, []byte("answer"))
			nodes[0].bus.SendToClient(client, reply)
			reply.Unref()
			buf := make([]byte, wire.HeaderSize+6)
			done := make(chan error, 1)
			go func() {
				_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
				_, err := io.ReadFull(conn, buf)
				done <- err
			}()
			runUntil(t, nodes, "reply sent", func() bool { return nodes[0].bus.Counters.MessagesOut == 1 })
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			var h wire.Header
			if err := wire.DecodeHeader(buf, &h, &nodes[0].bus.cfg.Wire); err != nil || string(buf[wire.HeaderSize:]) != "answer" {
				t.Fatalf("client got %v %q", err, buf[wire.HeaderSize:])
			}
		})
	}
}

func TestBusClosesConnectionOnInvalidBytes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func([]byte) []byte
	}{
		{"garbage", func([]byte) []byte { return bytes.Repeat([]byte{0xFF}, 300) }},
		{"header checksum", func(b []byte) []byte { b[100] ^= 1; return b }},
		{"body checksum", func(b []byte) []byte { b[len(b)-1] ^= 1; return b }},
		{"other cluster", func(b []byte) []byte {
			var h wire.Header
			h.Decode(b)
			h.Cluster.Lo++
			wire.Seal(&h, b)
			return b
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nodes := startNodes(t, 1, cio.BackendIOUring)
			conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", nodes[0].bus.Port()))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := conn.Write(tc.mutate(clientRequest(wire.Uint128{Lo: 1}, 1, []byte("x")))); err != nil {
				t.Fatal(err)
			}
			runUntil(t, nodes, "connection closed", func() bool { return nodes[0].bus.Counters.DropInvalid == 1 && nodes[0].bus.Counters.Closed == 1 })
			if len(nodes[0].rec.got) != 0 {
				t.Fatalf("invalid bytes reached the handler")
			}
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := conn.Read(make([]byte, 1)); err == nil {
				t.Fatalf("connection still open")
			}
		})
	}
}

func TestBusClientCannotImpersonateReplica(t *testing.T) {
	nodes := startNodes(t, 1, cio.BackendIOUring)
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", nodes[0].bus.Port()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A request, then a prepare on the same connection.
	h := prepareHeader(0, 1)
	h.Cluster, h.Protocol, h.Size = testCluster, wire.ProtocolVersion, wire.HeaderSize+8
	prep := make([]byte, h.Size)
	wire.Seal(&h, prep)
	if _, err := conn.Write(append(clientRequest(wire.Uint128{Lo: 5}, 1, nil), prep...)); err != nil {
		t.Fatal(err)
	}
	runUntil(t, nodes, "closed", func() bool { return nodes[0].bus.Counters.DropWrongSender == 1 })
	if count(nodes[0].rec, wire.CommandPrepare) != 0 || count(nodes[0].rec, wire.CommandRequest) != 1 {
		t.Fatalf("handler got %+v", nodes[0].rec.got)
	}
}

func TestBusSendQueueIsBounded(t *testing.T) {
	nodes := startNodes(t, 2, cio.BackendIOUring)
	runUntil(t, nodes, "connected", func() bool { return allConnected(nodes) })
	limit := nodes[1].bus.cfg.Limits.PeerSendQueueMax
	for i := 0; i < limit+3; i++ {
		m := sealedMessage(t, nodes[1].pool, wire.Header{Command: wire.CommandPrepareOK, Replica: 1, Op: uint64(i + 1), Context: wire.Uint128{Lo: 1}}, nil)
		nodes[1].bus.SendToReplica(0, m)
		m.Unref()
	}
	if got := nodes[1].bus.Counters.DropQueueFull; got != 3 {
		t.Fatalf("dropped %d, want 3 (queue bound %d)", got, limit)
	}
	runUntil(t, nodes, "delivery", func() bool { return count(nodes[0].rec, wire.CommandPrepareOK) == limit })
}

func TestBusReconnectsAfterPeerRestart(t *testing.T) {
	for _, keys := range [][]ClusterKey{nil, {keyOld}} {
		t.Run(fmt.Sprintf("%d keys", len(keys)), func(t *testing.T) {
			nodes := startNodes(t, 2, cio.BackendIOUring, withKeys(keys...))
			runUntil(t, nodes, "connected", func() bool { return allConnected(nodes) })
			addrs := append([]string(nil), nodes[1].bus.cfg.Addresses...)
			addrs[0] = fmt.Sprintf("127.0.0.1:%d", nodes[0].bus.Port())
			// Replica 0 goes away and comes back on the same port.
			port := nodes[0].bus.Port()
			nodes[0].stop()
			runUntil(t, nodes[1:], "disconnect noticed", func() bool { return !nodes[1].bus.Connected(0) })
			restartAddrs := append([]string(nil), addrs...)
			restartAddrs[0] = fmt.Sprintf("127.0.0.1:%d", port)
			nodes[0] = startNode(t, 2, 0, restartAddrs, cio.BackendIOUring, withKeys(keys...))
			runUntil(t, nodes, "reconnected", func() bool { return allConnected(nodes) })
			m := sealedMessage(t, nodes[1].pool, wire.Header{Command: wire.CommandPrepareOK, Replica: 1, Op: 9, Context: wire.Uint128{Lo: 1}}, nil)
			nodes[1].bus.SendToReplica(0, m)
			m.Unref()
			runUntil(t, nodes, "delivery after reconnect", func() bool { return count(nodes[0].rec, wire.CommandPrepareOK) == 1 })
			if nodes[1].bus.Counters.Dialled < 2 || nodes[0].bus.Counters.AuthFailed != 0 {
				t.Fatalf("dialled %d times, want a redial; %d authentication failures", nodes[1].bus.Counters.Dialled, nodes[0].bus.Counters.AuthFailed)
			}
		})
	}
}

func TestBusHandlerKeepingBuffers(t *testing.T) {
	nodes := startNodes(t, 2, cio.BackendIOUring)
	nodes[0].rec.hold = true
	runUntil(t, nodes, "connected", func() bool { return allConnected(nodes) })
	for i := 0; i < 3; i++ {
		body := binary.LittleEndian.AppendUint64(nil, uint64(i))
		m := sealedMessage(t, nodes[1].pool, prepareHeader(1, uint64(i+1)), body)
		nodes[1].bus.SendToReplica(0, m)
		m.Unref()
	}
	runUntil(t, nodes, "delivery", func() bool { return count(nodes[0].rec, wire.CommandPrepare) == 3 })
	for i, m := range nodes[0].rec.keep {
		var h wire.Header
		h.Decode(m.Buffer)
		if h.Op != uint64(i+1) || binary.LittleEndian.Uint64(m.Buffer[wire.HeaderSize:]) != uint64(i) {
			t.Fatalf("kept buffer %d was overwritten: op %d", i, h.Op)
		}
		m.Unref()
	}
}

func TestBusAddressErrors(t *testing.T) {
	limits := testLimits(2)
	ioq, err := cio.New(cio.Options{Entries: IOEntriesNeeded(2, limits), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer ioq.Close()
	pool, err := wire.NewPool(limits.MessagesMax(), limits.MessageSizeMax)
	if err != nil {
		t.Fatal(err)
	}
	cfg := func(addrs ...string) Config {
		return Config{
			Wire:      wire.Config{Cluster: testCluster, ReplicaCount: 2, MessageSizeMax: limits.MessageSizeMax},
			Replica:   0,
			Addresses: addrs,
			Limits:    limits,
		}
	}
	// A malformed peer address is a config error naming the replica.
	_, err = New(cfg("127.0.0.1:0", "127.0.0.1"), ioq, pool)
	if !errors.Is(err, ErrConfig) || !errors.Is(err, cio.ErrInvalid) || !strings.Contains(err.Error(), "replica 1") {
		t.Fatalf("malformed address: %v", err)
	}
	// A port another bus listens on cannot be listened on again.
	b, err := New(cfg("127.0.0.1:0", "127.0.0.1:1"), ioq, pool)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	taken := fmt.Sprintf("127.0.0.1:%d", b.Port())
	if _, err := New(cfg(taken, "127.0.0.1:1"), ioq, pool); !errors.Is(err, cio.ErrAddrInUse) || !strings.Contains(err.Error(), "listen "+taken) {
		t.Fatalf("listen on a taken port: %v", err)
	}
	// With ListenWait, New waits for the port to be free (a killed
	// replica's sockets outlive it for a moment).
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	held := l.Addr().String()
	go func() {
		time.Sleep(300 * time.Millisecond)
		l.Close()
	}()
	c := cfg(held, "127.0.0.1:1")
	c.ListenWait = 20 * time.Second
	b2, err := New(c, ioq, pool)
	if err != nil {
		t.Fatalf("listen on a port freed while waiting: %v", err)
	}
	b2.Close()
}

func TestBusIPv6(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend.String(), func(t *testing.T) {
			limits := testLimits(2)
			ioq, err := cio.New(cio.Options{Entries: IOEntriesNeeded(2, limits), Backend: backend, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Skipf("backend %s: %v", backend, err)
			}
			pool, err := wire.NewPool(limits.MessagesMax(), limits.MessageSizeMax)
			if err != nil {
				t.Fatal(err)
			}
			b, err := New(Config{
				Wire:      wire.Config{Cluster: testCluster, ReplicaCount: 1, MessageSizeMax: limits.MessageSizeMax},
				Addresses: []string{"[::1]:0"},
				Limits:    limits,
			}, ioq, pool)
			if err != nil {
				_ = ioq.Close()
				t.Skipf("no IPv6 loopback: %v", err)
			}
			rec := &recorder{}
			b.SetHandler(rec)
			nd := &node{io: ioq, bus: b, pool: pool, rec: rec}
			t.Cleanup(nd.stop)
			conn, err := net.Dial("tcp", fmt.Sprintf("[::1]:%d", b.Port()))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := conn.Write(clientRequest(wire.Uint128{Lo: 6}, 1, []byte("v6"))); err != nil {
				t.Fatal(err)
			}
			runUntil(t, []*node{nd}, "request over IPv6", func() bool { return count(rec, wire.CommandRequest) == 1 })
		})
	}
}

// TestBusRefusesConnectionsBeyondItsSlots fills every connection slot of a
// replica with clients; each further connection receives one eviction with reason
// too_many_connections and is closed, with its refusal counted and logged
// once. The second refused connection has sent a register first, as a
// client does: the replica closes with unread bytes (a reset), and the
// eviction still arrives before it.
func TestBusRefusesConnectionsBeyondItsSlots(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend.String(), func(t *testing.T) {
			nodes := startNodes(t, 1, backend)
			nd := nodes[0]
			var logged bytes.Buffer
			nd.bus.cfg.Logger = slog.New(slog.NewTextHandler(&logged, nil))
			nd.bus.cfg.LogIntervalTicks = 1 << 40 // one line for this whole test
			address := fmt.Sprintf("127.0.0.1:%d", nd.bus.Port())
			slots := len(nd.bus.conns)
			for i := 0; i < slots; i++ {
				// Clients, not silent connections: a silent one would be
				// closed to make room for the next connection.
				conn, err := net.Dial("tcp", address)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				if _, err := conn.Write(clientRequest(wire.Uint128{Lo: uint64(100 + i)}, 1, nil)); err != nil {
					t.Fatal(err)
				}
			}
			runUntil(t, nodes, "every slot taken", func() bool { return len(nd.bus.clients) == slots })

			register := wire.Header{
				Cluster: testCluster, Protocol: wire.ProtocolVersion, Command: wire.CommandRequest,
				Client: wire.Uint128{Lo: 99}, Operation: wire.OperationRegister, Size: wire.HeaderSize,
			}
			registerBytes := make([]byte, wire.HeaderSize)
			wire.Seal(&register, registerBytes)
			for i, first := range [][]byte{nil, registerBytes} {
				conn, err := net.Dial("tcp", address)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				if first != nil {
					if _, err := conn.Write(first); err != nil {
						t.Fatal(err)
					}
				}
				type read struct {
					head []byte
					err  error // of the read after the header
				}
				done := make(chan read, 1)
				go func() {
					_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
					head := make([]byte, wire.HeaderSize)
					if _, err := io.ReadFull(conn, head); err != nil {
						done <- read{err: fmt.Errorf("reading the eviction: %w", err)}
						return
					}
					_, err := conn.Read(make([]byte, 1))
					done <- read{head: head, err: err}
				}()
				var r read
				runUntil(t, nodes, "refused connection read", func() bool {
					select {
					case r = <-done:
						return true
					default:
						return false
					}
				})
				if r.head == nil {
					t.Fatalf("connection %d: %v", i, r.err)
				}
				var h wire.Header
				if err := wire.DecodeHeader(r.head, &h, &nd.bus.cfg.Wire); err != nil {
					t.Fatalf("connection %d: eviction does not decode: %v", i, err)
				}
				if h.Command != wire.CommandEviction || wire.EvictionReason(h.Reason) != wire.EvictionTooManyConnections ||
					!h.Client.IsZero() || h.Session != 0 || h.View != 0 || h.Replica != 0 || h.Size != wire.HeaderSize {
					t.Fatalf("connection %d: got %+v, want eviction too_many_connections", i, h)
				}
				if r.err == nil {
					t.Fatalf("connection %d still open after the eviction", i)
				}
				if got := nd.bus.Counters.DropNoSlot; got != uint64(i+1) {
					t.Fatalf("DropNoSlot = %d after %d refusals", got, i+1)
				}
			}
			if nd.bus.Counters.Accepted != uint64(slots) || len(nd.rec.got) != slots || nd.bus.Counters.EvictedSilent != 0 {
				t.Fatalf("accepted %d, handler got %d messages, %d silent connections closed", nd.bus.Counters.Accepted, len(nd.rec.got), nd.bus.Counters.EvictedSilent)
			}
			runUntil(t, nodes, "refusals logged", func() bool { return logged.Len() > 0 })
			if lines := strings.Count(logged.String(), "\n"); lines != 1 || !strings.Contains(logged.String(), "no free connection slot") {
				t.Fatalf("log: %q, want one line", logged.String())
			}
		})
	}
}

// TestListenBacklogCoversTheSlots: the kernel queues at least twice the
// connection slots (a SYN beyond the queue is dropped and sent again only
// a second later), never fewer than 128, within what listen(2) takes.
func TestListenBacklogCoversTheSlots(t *testing.T) {
	for _, slots := range []int{1, 18, 66, 258, 4098, 40000} {
		b := listenBacklog(slots)
		if b < 128 || (b < 2*slots && b != 65535) || b > 65535 {
			t.Errorf("%d slots: backlog %d", slots, b)
		}
	}
}

// TestBusKeepsAnAbsentPeersSlot: with its peer away, a replica's free
// slot is the peer's; a client beyond ClientsMax that takes it is refused
// (eviction too_many_connections) when it says who it is, and the peer's
// connection then finds the slot free.
func TestBusKeepsAnAbsentPeersSlot(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend.String(), func(t *testing.T) {
			nd := startNode(t, 2, 0, []string{"127.0.0.1:0", "127.0.0.1:1"}, backend)
			nodes := []*node{nd}
			address := fmt.Sprintf("127.0.0.1:%d", nd.bus.Port())
			clientsMax := nd.bus.cfg.Limits.ClientsMax
			sealed := func(h wire.Header) []byte {
				h.Cluster, h.Protocol, h.Size = testCluster, wire.ProtocolVersion, wire.HeaderSize
				b := make([]byte, wire.HeaderSize)
				wire.Seal(&h, b)
				return b
			}
			dial := func(first []byte) net.Conn {
				conn, err := net.Dial("tcp", address)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { conn.Close() })
				if _, err := conn.Write(first); err != nil {
					t.Fatal(err)
				}
				return conn
			}
			register := func(id uint64) []byte {
				return sealed(wire.Header{Command: wire.CommandRequest, Client: wire.Uint128{Lo: id}, Operation: wire.OperationRegister})
			}
			for i := range clientsMax {
				dial(register(uint64(100 + i)))
			}
			runUntil(t, nodes, "every client bound", func() bool { return len(nd.bus.clients) == clientsMax })

			extra := dial(register(999)) // takes the peer's slot, then names itself a client
			got := make(chan []byte, 1)
			go func() {
				_ = extra.SetReadDeadline(time.Now().Add(10 * time.Second))
				head := make([]byte, wire.HeaderSize)
				if _, err := io.ReadFull(extra, head); err != nil {
					head = nil
				}
				got <- head
			}()
			var head []byte
			runUntil(t, nodes, "the extra client refused", func() bool {
				select {
				case head = <-got:
					return true
				default:
					return false
				}
			})
			var h wire.Header
			if head == nil || wire.DecodeHeader(head, &h, &nd.bus.cfg.Wire) != nil ||
				h.Command != wire.CommandEviction || wire.EvictionReason(h.Reason) != wire.EvictionTooManyConnections {
				t.Fatalf("extra client got %x, want eviction too_many_connections", head)
			}
			if len(nd.bus.clients) != clientsMax || nd.bus.Counters.DropNoSlot != 1 || nd.bus.Counters.DropWrongSender != 0 {
				t.Fatalf("clients %d, DropNoSlot %d, DropWrongSender %d", len(nd.bus.clients), nd.bus.Counters.DropNoSlot, nd.bus.Counters.DropWrongSender)
			}

			dial(sealed(wire.Header{Command: wire.CommandPing, Replica: 1, Timestamp: 1}))
			runUntil(t, nodes, "the peer bound", func() bool { return nd.bus.peers[1] != nil })
		})
	}
}
