package cluster

import (
	"context"
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chronon-db/chronon/ledger"
	"github.com/chronon-db/chronon/wire"
)

var (
	clusterKeyOld = [32]byte{0: 0x01, 31: 0x0F}
	clusterKeyNew = [32]byte{0: 0x02, 31: 0xF0}
)

// rogueStats is what a rogue replica got from a cluster.
type rogueStats struct {
	Connections int                  // connections opened
	Bytes       int                  // bytes received on them
	Messages    map[wire.Command]int // whole messages received, by command
}

// rogueReplica connects to address over and over until ctx ends, each time
// claiming to be replica `replica` with a plain hello (a ping, as a
// replica without a key would), and reads whatever the replica sends until
// it closes the connection (or for at most a second). This is the attack
// of issue 17: without cluster keys such a connection is bound as the
// replica it names and sent prepares meant for it. Reusable against any
// cluster (see TestRogueReplicaAgainst).
func rogueReplica(ctx context.Context, address string, cluster wire.Uint128, replicaCount, replica uint8, interval time.Duration) rogueStats {
	stats := rogueStats{Messages: map[wire.Command]int{}}
	cfg := wire.Config{Cluster: cluster, ReplicaCount: replicaCount, MessageSizeMax: wire.MessageSizeMaxProduction}
	hello := make([]byte, wire.HeaderSize)
	for ctx.Err() == nil {
		d := net.Dialer{Timeout: time.Second}
		conn, err := d.DialContext(ctx, "tcp", address)
		if err != nil {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		stats.Connections++
		h := wire.Header{Cluster: cluster, Size: wire.HeaderSize, Protocol: wire.ProtocolVersion, Command: wire.CommandPing,
			Replica: replica, Timestamp: uint64(stats.Connections)}
		wire.Seal(&h, hello)
		_, _ = conn.Write(hello)
		_ = conn.SetReadDeadline(time.Now().Add(time.Second))
		var got []byte
		buf := make([]byte, 64<<10)
		for {
			n, err := conn.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				break
			}
		}
		conn.Close()
		stats.Bytes += len(got)
		if interval > 0 {
			time.Sleep(interval)
		}
		for len(got) >= wire.HeaderSize {
			var m wire.Header
			if wire.DecodeHeader(got[:wire.HeaderSize], &m, &cfg) != nil || int(m.Size) > len(got) {
				break
			}
			stats.Messages[m.Command]++
			got = got[m.Size:]
		}
	}
	return stats
}

// TestAuthenticatedClusterCommitsAndIgnoresARogue: a 3-replica cluster in
// the middle of a key rotation (replica 0 holds the old key, the others
// the new and the old) forms and commits; a rogue replica connecting in a
// loop to every replica meanwhile receives not one byte, and each replica
// counts its attempts as authentication failures.
func TestAuthenticatedClusterCommitsAndIgnoresARogue(t *testing.T) {
	c, err := Start(Config{Replicas: 3, Dir: t.TempDir(), NewStateMachine: newLedger, ClusterKeys: func(i int) [][32]byte {
		if i == 0 {
			return [][32]byte{clusterKeyOld}
		}
		return [][32]byte{clusterKeyNew, clusterKeyOld}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = c.Stop() })
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	stats := make([]rogueStats, 3)
	for i, address := range c.Addresses() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Claim to be replica 2, which dials 0 and 1 (replica 2
			// itself refuses it as well).
			stats[i] = rogueReplica(ctx, address, wire.Uint128{Lo: 1}, 3, 2, 0)
		}()
	}
	cl := dial(t, c)
	callCtx, callCancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer callCancel()
	for i := range 20 {
		failed, err := cl.CreateAccounts(callCtx, []ledger.Account{{ID: wire.Uint128{Lo: uint64(i + 1)}, Ledger: 1, Code: 1}})
		if err != nil || len(failed) != 0 {
			t.Fatalf("create account %d: %v %v", i, failed, err)
		}
	}
	waitFor(t, "rogue attempts refused", func() bool {
		for i := range 3 {
			if c.Node(i).Metrics().Bus.AuthFailed < 3 {
				return false
			}
		}
		return true
	})
	cancel()
	wg.Wait()
	if err := c.WaitCaughtUp(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	for i, s := range stats {
		if s.Connections == 0 || s.Bytes != 0 {
			t.Fatalf("rogue at replica %d: %+v, want connections and no byte", i, s)
		}
	}
}

// TestRogueReplicaAgainst runs the rogue replica of rogueReplica against a
// running cluster, for a paired measurement (a benchmark with and without
// it): CHRONON_ROGUE_ADDRESSES=host:port,... (every replica, in order),
// CHRONON_ROGUE_CLUSTER=<cluster id, decimal or 0x-hex, at most 64 bits>,
// CHRONON_ROGUE_SECONDS (default 10), CHRONON_ROGUE_REPLICA (the index it
// claims, default the last). Skipped without CHRONON_ROGUE_ADDRESSES. It
// reports what the rogue received from each replica; a cluster with cluster
// keys sends it nothing.
func TestRogueReplicaAgainst(t *testing.T) {
	list := os.Getenv("CHRONON_ROGUE_ADDRESSES")
	if list == "" {
		t.Skip("set CHRONON_ROGUE_ADDRESSES (and CHRONON_ROGUE_CLUSTER) to run a rogue replica against a cluster")
	}
	addresses := strings.Split(list, ",")
	cluster, err := strconv.ParseUint(os.Getenv("CHRONON_ROGUE_CLUSTER"), 0, 64)
	if err != nil {
		t.Fatalf("CHRONON_ROGUE_CLUSTER: %v", err)
	}
	seconds, replica := 10, len(addresses)-1
	if s := os.Getenv("CHRONON_ROGUE_SECONDS"); s != "" {
		if seconds, err = strconv.Atoi(s); err != nil {
			t.Fatalf("CHRONON_ROGUE_SECONDS: %v", err)
		}
	}
	if s := os.Getenv("CHRONON_ROGUE_REPLICA"); s != "" {
		if replica, err = strconv.Atoi(s); err != nil {
			t.Fatalf("CHRONON_ROGUE_REPLICA: %v", err)
		}
	}
	var interval time.Duration // between connections; 0: as fast as it can
	if s := os.Getenv("CHRONON_ROGUE_INTERVAL"); s != "" {
		if interval, err = time.ParseDuration(s); err != nil {
			t.Fatalf("CHRONON_ROGUE_INTERVAL: %v", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(seconds)*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i, address := range addresses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := rogueReplica(ctx, address, wire.Uint128{Lo: cluster}, uint8(len(addresses)), uint8(replica), interval)
			t.Logf("replica %d (%s): %d connections, %d bytes received, messages %v", i, address, s.Connections, s.Bytes, s.Messages)
		}()
	}
	wg.Wait()
	if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatal(ctx.Err())
	}
}

// TestRogueReplicaIsAnsweredWithoutKeys: without cluster keys a replica
// takes a connection's word for which replica it is (documented in
// docs/operations.md): the rogue of rogueReplica receives messages meant
// for replica 2. This is what the keys are for, and what shows that
// rogueReplica detects it.
func TestRogueReplicaIsAnsweredWithoutKeys(t *testing.T) {
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	s := rogueReplica(ctx, c.Addresses()[0], wire.Uint128{Lo: 1}, 3, 2, 0)
	if s.Bytes == 0 || len(s.Messages) == 0 {
		t.Fatalf("the rogue received nothing without keys: %+v", s)
	}
	t.Logf("rogue without keys: %+v", s)
}
