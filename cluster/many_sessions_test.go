package cluster

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronon-db/chronon/client"
	"github.com/chronon-db/chronon/wire"
)

// TestThousandSessionsAreServed: a cluster formatted for 1024 sessions
// registers 1024 clients at once and serves a call of each, although the
// test preset lends client connections only 8 request buffers
// (wire.LimitsTest.ClientMessagesMax): the bus holds back reading
// (Counters.Backpressure) instead of failing, and no session is evicted.
// Three replicas; one with -short.
func TestThousandSessionsAreServed(t *testing.T) {
	const sessions = 1024
	replicas := 3
	if testing.Short() {
		replicas = 1
	}
	c, err := Start(Config{Replicas: replicas, Dir: t.TempDir(), ClientsMax: sessions, NewStateMachine: newLedger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = c.Stop() })
	if err := c.WaitConnected(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	clients := make([]*client.Client, sessions)
	var failed atomic.Int32
	var wg sync.WaitGroup
	start := time.Now()
	for w := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < sessions; i += 64 {
				cl, err := client.Dial(ctx, c.ClientConfig())
				if err != nil {
					failed.Add(1)
					t.Errorf("client %d: Dial: %v", i, err)
					return
				}
				clients[i] = cl
			}
		}()
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, cl := range clients {
			if cl != nil {
				cl.Close()
			}
		}
	})
	if failed.Load() > 0 {
		t.FailNow()
	}
	registered := time.Since(start)
	start = time.Now()
	for _, cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := cl.LookupAccounts(ctx, []wire.Uint128{{Lo: 1}}); err != nil {
				t.Errorf("client %v: %v", cl.ID(), err)
			}
		}()
	}
	wg.Wait()
	var backpressure, evictions uint64
	for i := range replicas {
		m := c.Node(i).Metrics()
		backpressure += m.Bus.Backpressure
		evictions += m.Protocol.Evictions
	}
	t.Logf("%d replicas: %d sessions registered in %v, one call each in %v; bus backpressure %d",
		replicas, sessions, registered.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), backpressure)
	if evictions != 0 {
		t.Fatalf("%d sessions evicted", evictions)
	}
}

// TestIdleClientConnectionIsClosedAndTheSessionGoesOn: a replica closes a
// client connection idle for ClientIdleTimeout (counted); the client's
// next call redials and is served in the same session.
func TestIdleClientConnectionIsClosedAndTheSessionGoesOn(t *testing.T) {
	c, err := Start(Config{Replicas: 1, Dir: t.TempDir(), NewStateMachine: newLedger, ClientIdleTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = c.Stop() })
	cl := dial(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := cl.LookupAccounts(ctx, []wire.Uint128{{Lo: 1}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "idle timeout", func() bool { return c.Node(0).Metrics().Bus.TimeoutIdle >= 1 })
	if _, err := cl.LookupAccounts(ctx, []wire.Uint128{{Lo: 1}}); err != nil {
		t.Fatalf("call after the idle close: %v", err)
	}
	// Metrics are published every tick.
	waitFor(t, "the second connection counted", func() bool { return c.Node(0).Metrics().Bus.Accepted >= 2 })
	if m := c.Node(0).Metrics(); m.Protocol.Evictions != 0 {
		t.Fatalf("%d evictions: want the session kept", m.Protocol.Evictions)
	}
}
