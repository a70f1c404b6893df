package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/chronon-db/chronon/client"
	"github.com/chronon-db/chronon/replica"
)

// TestClientFollowsARedirect: the cluster moved past view 0 (its primary
// stopped, the backups elected another) and replica 0 came back as a
// backup. A new client starts in view 0 and sends its register to replica
// 0, which answers with redirect naming its view; the client sends the
// register at once to that view's primary, which answers. With an hour
// between retries, nothing but the redirect can reach the primary: the
// counters say one redirect was followed and no request was broadcast.
func TestClientFollowsARedirect(t *testing.T) {
	c := startCluster(t, 3)
	if err := c.WaitConnected(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StopReplica(0); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// A client with the usual retries registering shows a normal primary
	// of a later view serves.
	warm, err := client.Dial(ctx, c.ClientConfig())
	if err != nil {
		t.Fatalf("dial with the view-0 primary down: %v", err)
	}
	warm.Close()
	if err := c.StartReplica(0); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		m := c.Node(0).Metrics()
		view := c.Node(1).Status().View
		if m.ReplicaStatus == replica.StatusNormal && m.Status.View == view && view%3 != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica 0 is not a normal backup: status %v view %d, replica 1's view %d", m.ReplicaStatus, m.Status.View, view)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cfg := c.ClientConfig()
	cfg.RetryInterval = time.Hour
	cl, err := client.Dial(ctx, cfg)
	if err != nil {
		t.Fatalf("dial through a backup: %v", err)
	}
	defer cl.Close()
	if s := cl.Stats(); s.Redirects != 1 || s.Broadcasts != 0 {
		t.Fatalf("client stats %+v, want one redirect and no broadcast", s)
	}
	// Metrics are published every tick.
	for c.Node(0).Metrics().Protocol.Redirects == 0 {
		if time.Now().After(deadline.Add(30 * time.Second)) {
			t.Fatal("replica 0 counted no redirect")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
