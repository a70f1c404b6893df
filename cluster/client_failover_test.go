package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/chronon-db/chronon/client"
)

// TestClientSkipsAnUnreachablePrimary: the primary of view 0 is down and
// the backups elected a new one. A new client starts in view 0; its first
// request cannot reach replica 0 and goes to every replica at once instead
// of waiting for the retry interval (here an hour, so only that path can
// register the session).
func TestClientSkipsAnUnreachablePrimary(t *testing.T) {
	c := startCluster(t, 3)
	if err := c.WaitConnected(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StopReplica(0); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for c.Node(1).Status().View == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no view change after the primary stopped")
		}
		time.Sleep(20 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A view number above 0 says a view change began, not that its primary
	// is normal yet: a request broadcast before then is dropped, and with
	// an hour between retries the dial below would time out. A client with
	// the usual retries registering first shows a normal primary serves.
	warm, err := client.Dial(ctx, c.ClientConfig())
	if err != nil {
		t.Fatalf("dial with the default retries: %v", err)
	}
	warm.Close()
	cfg := c.ClientConfig()
	cfg.RetryInterval = time.Hour
	cl, err := client.Dial(ctx, cfg)
	if err != nil {
		t.Fatalf("dial with the view-0 primary down: %v", err)
	}
	cl.Close()
}

// TestBackupsLearnThePrimaryConnectionClosed: when the primary's process
// goes away, its sockets close and each backup's node reports the lost
// connection to its replica (which then suspects the primary early).
func TestBackupsLearnThePrimaryConnectionClosed(t *testing.T) {
	c := startCluster(t, 3)
	if err := c.WaitConnected(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StopReplica(0); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for c.Node(1).Status().View == 0 || c.Node(2).Status().View == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no view change after the primary stopped")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, i := range []int{1, 2} {
		n, err := c.StopReplica(i)
		if err != nil {
			t.Fatal(err)
		}
		if lost := n.Replica().Counters.PrimaryLost; lost == 0 {
			t.Fatalf("replica %d was not told that its connection to the primary closed", i)
		}
	}
}
