package ledger

import (
	"testing"

	"github.com/chronon-db/chronon/outbox"
	"github.com/chronon-db/chronon/wire"
)

// TestCreatedTransfersEmitEffects: with an emitter, each created transfer
// emits one effect carrying the stored transfer; failed transfers emit
// nothing; a full outbox refuses the transfer instead of dropping its effect.
func TestCreatedTransfersEmitEffects(t *testing.T) {
	tbl, err := outbox.NewTable(outbox.Config{Cluster: wire.Uint128{Lo: 9}, EffectsMax: 3})
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig
	cfg.Effects, cfg.EffectsTarget = tbl.Emitter(), []byte("https://example.invalid/hook")
	h := newHarness(t, cfg)
	h.createAccounts(account(1), account(2))
	em := tbl.Emitter()
	apply := func(ts ...Transfer) []EventResult {
		em.Begin(&h.ctx)
		defer em.End()
		return h.createTransfers(ts...)
	}
	rs := apply(transfer(10, 1, 2, 5), transfer(11, 1, 1, 5), transfer(12, 2, 1, 7))
	if len(rs) != 1 || rs[0].Index != 1 || rs[0].Result != ResultAccountsMustBeDifferent {
		t.Fatalf("results %+v", rs)
	}
	if tbl.Len() != 2 {
		t.Fatalf("%d effects, want 2 (one per created transfer)", tbl.Len())
	}
	var due []outbox.Effect
	due = tbl.Due(due, ^uint64(0), 10, nil)
	var got Transfer
	got.Decode(due[0].Payload)
	if got.ID != id(10) || got.Timestamp == 0 || string(due[0].Target) != "https://example.invalid/hook" || due[0].Kind != EffectTransferCreated {
		t.Fatalf("effect %+v carries transfer %+v", due[0], got)
	}
	rs = apply(transfer(13, 1, 2, 1), transfer(14, 1, 2, 1))
	if len(rs) != 1 || rs[0].Index != 1 || rs[0].Result != ResultOutboxFull {
		t.Fatalf("with one slot left: %+v", rs)
	}
	if _, ok := h.l.Transfer(id(14)); ok {
		t.Fatal("a transfer refused for a full outbox was created")
	}
}

// TestRestoreEmitsNothing: restoring a snapshot re-creates transfers
// without emitting their effects again (those live in the outbox's own
// checkpoint).
func TestRestoreEmitsNothing(t *testing.T) {
	tbl, err := outbox.NewTable(outbox.Config{Cluster: wire.Uint128{Lo: 9}, EffectsMax: 16})
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig
	cfg.Effects, cfg.EffectsTarget = tbl.Emitter(), []byte("sink")
	h := newHarness(t, cfg)
	h.createAccounts(account(1), account(2))
	em := tbl.Emitter()
	em.Begin(&h.ctx)
	h.createTransfers(transfer(10, 1, 2, 5), transfer(11, 2, 1, 3))
	em.End()
	snap := h.l.Snapshot(nil)
	if err := h.l.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if tbl.Len() != 2 {
		t.Fatalf("%d effects after restore, want the 2 emitted before", tbl.Len())
	}
	if h.l.Config().Effects == nil {
		t.Fatal("restore dropped the emitter")
	}
}

// TestEffectsBound: with an emitter, a create_transfers request may emit
// one effect per transfer; other operations and a ledger without effects
// emit none.
func TestEffectsBound(t *testing.T) {
	tbl, err := outbox.NewTable(outbox.Config{Cluster: wire.Uint128{Lo: 9}, EffectsMax: 3})
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig
	cfg.Effects = tbl.Emitter()
	h := newHarness(t, cfg)
	body := make([]byte, 3*TransferSize)
	if n := h.l.EffectsBound(OperationCreateTransfers, body); n != 3 {
		t.Fatalf("bound of 3 transfers: %d", n)
	}
	if n := h.l.EffectsBound(OperationCreateAccounts, body); n != 0 {
		t.Fatalf("bound of create_accounts: %d", n)
	}
	if n := newHarness(t, testConfig).l.EffectsBound(OperationCreateTransfers, body); n != 0 {
		t.Fatalf("bound without effects: %d", n)
	}
}
