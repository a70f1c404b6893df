package cluster

import (
	"context"
	"errors"
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
