package kv

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/chronon-db/chronon/wire"
)

// TestAgainstModel applies seeded random batches to a Store and to a plain
// Go map and compares every result, every get value and the digest sum
// (incremental vs recomputed). Keys come from a small space so that
// overwrites, deletes, CAS hits and a full store are frequent, and the
// index's backward-shift deletion is exercised on long probe runs.
func TestAgainstModel(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		const keysMax = 48
		h := newHarness(t, Config{KeysMax: keysMax, ValueSizeMax: 16})
		model := map[string]string{}
		rng := rand.New(rand.NewPCG(seed, 7))
		key := func() string { return fmt.Sprintf("k%d", rng.IntN(80)) }
		value := func() string { return fmt.Sprintf("%x", rng.Uint64()>>rng.IntN(64)) }
		for step := 0; step < 600; step++ {
			n := 1 + rng.IntN(6)
			switch rng.IntN(4) {
			case 0:
				var kv []string
				var want []Result
				for range n {
					k, v := key(), value()
					kv = append(kv, k, v)
					if _, ok := model[k]; ok || len(model) < keysMax {
						model[k] = v
						want = append(want, ResultOK)
					} else {
						want = append(want, ResultFull)
					}
				}
				checkResults(t, "put", h.put(kv...), want)
			case 1:
				var keys []string
				var want []Result
				for range n {
					k := key()
					keys = append(keys, k)
					if _, ok := model[k]; ok {
						delete(model, k)
						want = append(want, ResultOK)
					} else {
						want = append(want, ResultNotFound)
					}
				}
				checkResults(t, "delete", h.del(keys...), want)
			case 2:
				k, v := key(), value()
				expected, absent := model[k], rng.IntN(3) == 0
				if rng.IntN(2) == 0 {
					expected = value()
				}
				var flags CASFlags
				var want Result
				cur, ok := model[k]
				switch {
				case absent && ok:
					flags, expected, want = CASExpectAbsent, "", ResultCASMismatch
				case absent && len(model) == keysMax:
					flags, expected, want = CASExpectAbsent, "", ResultFull
				case absent:
					flags, expected, want = CASExpectAbsent, "", ResultOK
					model[k] = v
				case !ok:
					want = ResultNotFound
				case cur != expected:
					want = ResultCASMismatch
				default:
					want = ResultOK
					model[k] = v
				}
				checkResults(t, "cas", []Result{h.cas(k, expected, v, flags)}, []Result{want})
			case 3:
				var keys []string
				for range n {
					keys = append(keys, key())
				}
				for i, g := range h.get(keys...) {
					v, ok := model[keys[i]]
					if ok != (g.r == ResultOK) || g.value != v {
						t.Fatalf("get %q: %v, model %q %v", keys[i], g, v, ok)
					}
				}
			}
			if h.s.Len() != len(model) {
				t.Fatalf("Len %d, model %d", h.s.Len(), len(model))
			}
			if h.s.sum != recomputedSum(h.s) {
				t.Fatal("incremental digest sum diverged")
			}
		}
	}
}

func checkResults(t *testing.T, what string, got, want []Result) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %v, want %v", what, got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: %v, want %v", what, got, want)
		}
	}
}

func recomputedSum(s *Store) wire.Uint128 {
	var sum wire.Uint128
	for i := range s.slots {
		if s.slots[i].keySize != 0 {
			sum = add128(sum, s.recordHash(uint32(i)))
		}
	}
	return sum
}
