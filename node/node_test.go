package node

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/chronon-db/chronon/journal"
	"github.com/chronon-db/chronon/kv"
	"github.com/chronon-db/chronon/wire"
)

// startSingle formats (once) and starts a one-replica node on a free port.
func startSingle(t *testing.T, path string) (*Node, error) {
	t.Helper()
	opts := journal.FormatOptions{Config: journal.ConfigTest, Cluster: wire.Uint128{Lo: 7}, ReplicaCount: 1}
	if err := FormatDataFile(path, opts); err != nil && !errors.Is(err, journal.ErrExists) {
		t.Fatal(err)
	}
	sm, err := kv.New(kv.Config{KeysMax: 64, ValueSizeMax: 32})
	if err != nil {
		t.Fatal(err)
	}
	return Start(Config{
		DataFile:     path,
		Addresses:    []string{"127.0.0.1:0"},
		StateMachine: sm,
		TickInterval: time.Millisecond,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
}

// TestNodeLifecycle: the node's goroutine opens, runs and releases
// everything; Close works before Run, during Run (from another goroutine)
// and twice; a node runs once.
func TestNodeLifecycle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "replica-0.chronon")

	// Closed without running: the data file is released (its lock too).
	n, err := startSingle(t, path)
	if err != nil {
		t.Fatal(err)
	}
	n.Close()
	n.Close()
	if err := n.Run(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Run after Close: %v, want ErrClosed", err)
	}

	// Running; a second Start on the same file is refused while it runs.
	n, err = startSingle(t, path)
	if err != nil {
		t.Fatalf("start after Close: %v", err)
	}
	ran := make(chan error, 1)
	go func() { ran <- n.Run(context.Background()) }()
	time.Sleep(20 * time.Millisecond) // let it tick
	if _, err := startSingle(t, path); err == nil {
		t.Fatal("a second node opened a data file in use")
	}
	n.Close() // from this goroutine: stops the loop
	select {
	case err := <-ran:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after Close")
	}
	if err := n.Run(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Run: %v, want ErrClosed", err)
	}

	// Stopped by its context; the file opens again afterwards.
	n, err = startSingle(t, path)
	if err != nil {
		t.Fatalf("start after a run: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := n.Run(ctx); err != nil {
		t.Fatalf("Run until the context ends: %v", err)
	}
	n.Close()
}
