package node

import (
	"bytes"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chronon-db/chronon/journal"
	"github.com/chronon-db/chronon/ledger"
	"github.com/chronon-db/chronon/wire"
)

// TestStartRefusesAGridTooSmallForTheStateMachine: a data file whose grid
// cannot hold two checkpoints of the state machine's fullest state is
// refused at start with an error naming the sizes, rather than panicking
// at the checkpoint that would find the grid full. The same file starts
// with a ledger that fits.
func TestStartRefusesAGridTooSmallForTheStateMachine(t *testing.T) {
	cfg := journal.ConfigTest
	cfg.GridBlockCount = 512
	path := filepath.Join(t.TempDir(), "r0.chronon")
	if err := FormatDataFile(path, journal.FormatOptions{Config: cfg, Cluster: wire.Uint128{Lo: 9}, ReplicaCount: 1}); err != nil {
		t.Fatal(err)
	}
	start := func(transfers int) (*Node, error) {
		l, err := ledger.New(ledger.Config{AccountsMax: 16, TransfersMax: transfers})
		if err != nil {
			t.Fatal(err)
		}
		return Start(Config{DataFile: path, Addresses: []string{"127.0.0.1:0"}, StateMachine: l})
	}
	if n, err := start(32768); !errors.Is(err, ErrConfig) || !errors.Is(err, journal.ErrGridFull) {
		if n != nil {
			n.Close()
		}
		t.Fatalf("start with a ledger of 32768 transfers on a grid of 512 blocks: %v, want a grid-full config error", err)
	} else {
		t.Log(err)
	}
	n, err := start(1024)
	if err != nil {
		t.Fatalf("start with a ledger of 1024 transfers: %v", err)
	}
	n.Close()
}

// TestStartWarnsWithoutClusterKeys: a replica of a multi-replica cluster
// started without cluster keys warns that its peers are not
// authenticated; with keys it does not, and the log never shows a key.
func TestStartWarnsWithoutClusterKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r0.chronon")
	if err := FormatDataFile(path, journal.FormatOptions{Config: journal.ConfigTest, Cluster: wire.Uint128{Lo: 9}, ReplicaCount: 3}); err != nil {
		t.Fatal(err)
	}
	key := [32]byte{0: 0xC0, 1: 0xFF, 2: 0xEE, 31: 0x42}
	for _, keys := range [][][32]byte{nil, {key}} {
		var logged bytes.Buffer
		l, err := ledger.New(ledger.Config{AccountsMax: 16, TransfersMax: 1024})
		if err != nil {
			t.Fatal(err)
		}
		n, err := Start(Config{DataFile: path, Addresses: []string{"127.0.0.1:0", "127.0.0.1:1", "127.0.0.1:1"}, StateMachine: l,
			Logger: slog.New(slog.NewTextHandler(&logged, nil)), ClusterKeys: keys})
		if err != nil {
			t.Fatal(err)
		}
		n.Close()
		warned := strings.Contains(logged.String(), "replicas do not authenticate each other")
		if warned != (keys == nil) || strings.Contains(strings.ToLower(logged.String()), "c0ffee") {
			t.Fatalf("keys %d: warned %v; log %q", len(keys), warned, logged.String())
		}
	}
}

// TestStartRefusesNegativeRedirects: a negative redirect bound is a
// configuration error, not "no bound".
func TestStartRefusesNegativeRedirects(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r0.chronon")
	if err := FormatDataFile(path, journal.FormatOptions{Config: journal.ConfigTest, Cluster: wire.Uint128{Lo: 9}, ReplicaCount: 1}); err != nil {
		t.Fatal(err)
	}
	l, err := ledger.New(ledger.Config{AccountsMax: 16, TransfersMax: 1024})
	if err != nil {
		t.Fatal(err)
	}
	n, err := Start(Config{DataFile: path, Addresses: []string{"127.0.0.1:0"}, StateMachine: l, RedirectsPerTick: -1})
	if !errors.Is(err, ErrConfig) {
		if n != nil {
			n.Close()
		}
		t.Fatalf("start with redirects per tick -1: %v, want a config error", err)
	}
}
