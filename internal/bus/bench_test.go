package bus

import (
	"fmt"
	"log/slog"
	"testing"

	cio "github.com/chronon-db/chronon/io"
	"github.com/chronon-db/chronon/wire"
)

// echoer sends every prepare it receives back to the replica it names.
type echoer struct{ bus *Bus }

func (e *echoer) OnMessage(m *wire.Message, h *wire.Header) {
	if h.Command == wire.CommandPrepare {
		e.bus.SendToReplica(h.Replica, m)
	}
}

// counter counts the prepares it receives.
type counter struct{ n int }

func (c *counter) OnMessage(_ *wire.Message, h *wire.Header) {
	if h.Command == wire.CommandPrepare {
		c.n++
	}
}

// BenchmarkBusRoundTrip: replica 1 sends a prepare to replica 0, whose
// handler sends it back; one iteration is one round trip over loopback TCP
// through both buses (framing, checksums, send queues, connection code),
// with both buses on one event loop so that nothing but the bus and the IO
// is measured. Reported per round trip, with allocations (0 expected).
func BenchmarkBusRoundTrip(b *testing.B) {
	for _, backend := range backends {
		for _, body := range []int{0, 4 << 10, 60 << 10} {
			b.Run(fmt.Sprintf("%s/%dB", backend, wire.HeaderSize+body), func(b *testing.B) {
				benchmarkRoundTrip(b, backend, body)
			})
		}
	}
}

func benchmarkRoundTrip(b *testing.B, backend cio.Backend, body int) {
	limits := testLimits(2)
	loop, err := cio.New(cio.Options{Entries: 2 * IOEntriesNeeded(2, limits), Backend: backend, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Skipf("backend %s: %v", backend, err)
	}
	defer loop.Close()
	// Replica 1 dials replica 0 (the lower index); each listens on a free port.
	addrs := []string{"127.0.0.1:1", "127.0.0.1:1"}
	buses := make([]*Bus, 2)
	pools := make([]*wire.Pool, 2)
	for i := range buses {
		pools[i], err = wire.NewPool(limits.MessagesMax(), limits.MessageSizeMax)
		if err != nil {
			b.Fatal(err)
		}
		addrs[i] = "127.0.0.1:0"
		cfg := Config{
			Wire:                wire.Config{Cluster: testCluster, ReplicaCount: 2, MessageSizeMax: limits.MessageSizeMax},
			Replica:             uint8(i),
			Addresses:           append([]string(nil), addrs...),
			Limits:              limits,
			DialBackoffMinTicks: 1,
			Seed:                1,
		}
		buses[i], err = New(cfg, loop, pools[i])
		if err != nil {
			b.Fatal(err)
		}
		defer buses[i].Close()
		addrs[i] = fmt.Sprintf("127.0.0.1:%d", buses[i].Port())
	}
	buses[0].SetHandler(&echoer{bus: buses[0]})
	got := &counter{}
	buses[1].SetHandler(got)
	for !buses[0].Connected(1) || !buses[1].Connected(0) {
		buses[1].Tick()
		if _, err := loop.Wait(1e6); err != nil {
			b.Fatal(err)
		}
	}

	m, err := pools[1].Get()
	if err != nil {
		b.Fatal(err)
	}
	h := prepareHeader(1, 1)
	h.Cluster, h.Protocol, h.Size = testCluster, wire.ProtocolVersion, uint32(wire.HeaderSize+body)
	wire.Seal(&h, m.Bytes(h.Size))
	defer m.Unref()

	b.SetBytes(int64(2 * h.Size))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		buses[1].SendToReplica(0, m)
		for got.n <= i {
			if !buses[1].Connected(0) {
				b.Fatalf("connection lost: %+v %+v", buses[0].Counters, buses[1].Counters)
			}
			if _, err := loop.Wait(1e9); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	if buses[0].Counters.DropInvalid+buses[1].Counters.DropInvalid+buses[0].Counters.DropQueueFull+buses[1].Counters.DropQueueFull != 0 {
		b.Fatalf("drops: %+v %+v", buses[0].Counters, buses[1].Counters)
	}
}
