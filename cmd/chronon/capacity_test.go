package main

import (
	"errors"
	"fmt"
	"testing"

	"github.com/chronon-db/chronon/internal/persist"
	"github.com/chronon-db/chronon/journal"
	"github.com/chronon-db/chronon/ledger"
	"github.com/chronon-db/chronon/node"
	"github.com/chronon-db/chronon/outbox"
	"github.com/chronon-db/chronon/replica"
	"github.com/chronon-db/chronon/wire"
)

// TestPresetGridsHoldTheCLIStateMachines checks that each preset's grid,
// as it is and as `chronon format --clients-max` grows it, holds two
// checkpoints of the fullest state `chronon start` admits with it
// (node.Start refuses to start otherwise), and that one block fewer fails
// the check.
func TestPresetGridsHoldTheCLIStateMachines(t *testing.T) {
	for _, variant := range []struct {
		preset  string
		clients uint32 // 0: the preset's
	}{{"production", 0}, {"test", 0}, {"production", 256}, {"production", 4096}, {"test", 1024}, {"test", 1}} {
		name := variant.preset
		cfg, err := journal.Preset(name)
		if err != nil {
			t.Fatal(err)
		}
		if variant.clients != 0 {
			if cfg, err = node.WithClientsMax(cfg, 3, variant.clients); err != nil {
				t.Fatal(err)
			}
			if cfg.ClientsMax != variant.clients {
				t.Fatalf("%s preset with %d clients: config holds %d", name, variant.clients, cfg.ClientsMax)
			}
			name = fmt.Sprintf("%s (%d clients)", name, variant.clients)
		}
		caps := presetCapacity(cfg)
		limits := persist.Limits(cfg, 3)
		tbl, err := outbox.NewTable(outboxConfig(wire.Uint128{Lo: 1}, caps))
		if err != nil {
			t.Fatal(err)
		}
		store, err := newStateMachine("kv", caps, nil, "")
		if err != nil {
			t.Fatal(err)
		}
		withEffects, err := newStateMachine("ledger", caps, tbl, "http://example.invalid/")
		if err != nil {
			t.Fatal(err)
		}
		if want := 8 + ledger.SnapshotSizeMax(caps.ledgerAccounts, caps.ledgerTransfers) + tbl.SnapshotSizeMax(); withEffects.SnapshotSizeMax() != want {
			t.Fatalf("%s preset: ledger with effects bounds its snapshot at %d bytes, want %d", name, withEffects.SnapshotSizeMax(), want)
		}
		if got, err := caps.stateSizeMax(wire.Uint128{Lo: 1}); err != nil || got != uint64(max(store.SnapshotSizeMax(), withEffects.SnapshotSizeMax())) {
			t.Fatalf("%s preset: state bound computed without building the machines: %d, %v; built: kv %d, ledger with effects %d", name, got, err, store.SnapshotSizeMax(), withEffects.SnapshotSizeMax())
		}
		sessions := replica.SessionsSizeMax(limits)
		ledgerWithEffects := journal.CheckpointSizes{State: uint64(withEffects.SnapshotSizeMax()), Sessions: sessions}
		for what, sizes := range map[string]journal.CheckpointSizes{
			"ledger with effects": ledgerWithEffects,
			"kv":                  {State: uint64(store.SnapshotSizeMax()), Sessions: sessions},
		} {
			if err := cfg.CheckGrid(sizes); err != nil {
				t.Errorf("%s preset, %s: %v", name, what, err)
			}
			t.Logf("%s preset, %s: two checkpoints need %d of %d blocks", name, what, 2*cfg.CheckpointBlocksMax(sizes), cfg.GridBlockCount)
		}
		small := cfg
		small.GridBlockCount = uint32(2*cfg.CheckpointBlocksMax(ledgerWithEffects)) - 1
		if err := small.CheckGrid(ledgerWithEffects); !errors.Is(err, journal.ErrGridFull) {
			t.Errorf("%s preset with %d blocks: %v, want grid full", name, small.GridBlockCount, err)
		}
	}
}
