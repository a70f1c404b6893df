package bench

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/chronon-db/chronon/client"
	"github.com/chronon-db/chronon/cluster"
	"github.com/chronon-db/chronon/kv"
	"github.com/chronon-db/chronon/outbox"
	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// TestRunInterrupted cancels a run with a one-hour measured phase as it
// starts, as Ctrl-C does: Run must stop the load and the cluster and
// return the partial result without an error.
func TestRunInterrupted(t *testing.T) {
	cfg := Config{
		Workload: WorkloadKV, Replicas: 1, Preset: "test", Dir: t.TempDir(),
		NewStateMachine: kvMachine(64),
		Clients:         2, Callers: 2, Batch: 1, Warmup: 50 * time.Millisecond, Duration: time.Hour,
		KeySize: 8, ValueSize: 16, ReadRatio: 0.5, Keys: 64,
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg.OnMeasure = cancel
	res, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Partial || res.ElapsedSeconds >= 3600 || res.Note != "interrupted" {
		t.Fatalf("result of an interrupted run: %+v", res)
	}
	l := res.Latency
	if !(l.P50 <= l.P99 && l.P99 <= l.Max) {
		t.Fatalf("percentiles out of order: %+v", l)
	}
}

// TestRunStopsOnAFailedCall fills a kv store of 8 keys with puts of 64
// keys: the first put refused as full must end the one-hour run with that
// error.
func TestRunStopsOnAFailedCall(t *testing.T) {
	cfg := Config{
		Workload: WorkloadKV, Replicas: 1, Preset: "test", Dir: t.TempDir(),
		NewStateMachine: kvMachine(8),
		Clients:         2, Callers: 2, Batch: 4, Warmup: time.Hour, Duration: time.Hour,
		KeySize: 8, ValueSize: 16, Keys: 64,
	}
	_, err := Run(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "full") {
		t.Fatalf("Run: %v, want a put refused as full", err)
	}
}

func TestConfigCheck(t *testing.T) {
	good := Config{Workload: WorkloadLedger, Replicas: 3, Preset: "test", NewStateMachine: func() statemachine.StateMachine { return nil },
		Clients: 1, Callers: 1, Batch: 8, Duration: time.Second, Accounts: 10, Transfers: 100}
	if err := good.Check(); err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(*Config){
		"too few transfers":    func(c *Config) { c.Transfers = 31 },
		"one account":          func(c *Config) { c.Accounts = 1 },
		"no state machine":     func(c *Config) { c.NewStateMachine = nil },
		"addresses without id": func(c *Config) { c.Addresses = []string{"127.0.0.1:1"} },
		"negative warm-up":     func(c *Config) { c.Warmup = -time.Second },
	} {
		c := good
		mutate(&c)
		if err := c.Check(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestRunMoreSessionsThanTheClusterHolds asks a running test-preset
// cluster (16 client sessions and connection slots) for 17: the run must
// fail with client.ErrTooManyClients naming the session that could not
// register, not hang.
func TestRunMoreSessionsThanTheClusterHolds(t *testing.T) {
	c, err := cluster.Start(cluster.Config{
		Replicas: 1, Dir: t.TempDir(), Preset: "test",
		NewStateMachine: func(*outbox.Emitter) statemachine.StateMachine {
			return kvMachine(64)()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	cfg := Config{
		Workload: WorkloadKV, Preset: "test", Addresses: c.Addresses(), Cluster: wire.Uint128{Lo: 1},
		Clients: 17, Callers: 1, Batch: 1, Duration: time.Second, DialTimeout: time.Second,
		KeySize: 8, ValueSize: 16, Keys: 64,
	}
	_, err = Run(context.Background(), cfg)
	if !errors.Is(err, client.ErrTooManyClients) || !strings.Contains(err.Error(), "client 17 of 17") || !strings.Contains(err.Error(), "16 sessions registered") {
		t.Fatalf("Run: %v, want session 17 refused with client.ErrTooManyClients", err)
	}
}

// kvMachine makes kv stores of keysMax keys with values of up to 16 bytes.
func kvMachine(keysMax int) func() statemachine.StateMachine {
	return func() statemachine.StateMachine {
		s, err := kv.New(kv.Config{KeysMax: keysMax, ValueSizeMax: 16})
		if err != nil {
			panic(err)
		}
		return s
	}
}
