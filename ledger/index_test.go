package ledger

import (
	"math/rand/v2"
	"testing"

	"github.com/chronon-db/chronon/wire"
)

// sliceIDs is an idSource over a slice of ids.
type sliceIDs []wire.Uint128

func (s *sliceIDs) idAt(slot uint32) wire.Uint128 { return (*s)[slot] }

func TestIndex(t *testing.T) {
	const n = 1000
	rng := rand.New(rand.NewPCG(1, 2))
	for _, seed := range []uint64{0, 12345} {
		var ids sliceIDs
		x := newIndex(n, seed, &ids)
		for i := range n {
			var id wire.Uint128
			switch i % 3 {
			case 0:
				id = wire.Uint128{Lo: uint64(i)} // sequential
			case 1:
				id = wire.Uint128{Hi: uint64(i)} // high half only
			default:
				id = wire.Uint128{Lo: rng.Uint64(), Hi: rng.Uint64()}
			}
			pos, _, ok := x.find(id)
			if ok {
				t.Fatalf("id %v found before insert", id)
			}
			x.insert(pos, id, uint32(i))
			ids = append(ids, id)
		}
		for i, id := range ids {
			if slot, ok := x.get(id); !ok || slot != uint32(i) {
				t.Fatalf("id %v: slot %d %v, want %d", id, slot, ok, i)
			}
		}
		for range 1000 {
			if _, ok := x.get(wire.Uint128{Lo: rng.Uint64(), Hi: 1 << 63}); ok {
				t.Fatal("absent id found")
			}
		}
		x.reset()
		if _, ok := x.get(ids[0]); ok {
			t.Fatal("found after reset")
		}
	}
}
