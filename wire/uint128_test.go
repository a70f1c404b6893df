package wire

import (
	"cmp"
	"testing"
)

func TestUint128Order(t *testing.T) {
	vs := []Uint128{{}, {Lo: 1}, {Lo: ^uint64(0)}, {Hi: 1}, {Lo: 5, Hi: 1}, {Hi: ^uint64(0), Lo: ^uint64(0)}}
	for i, a := range vs {
		for j, b := range vs {
			want := cmp.Compare(i, j)
			if got := a.Compare(b); got != want {
				t.Errorf("%v.Compare(%v) = %d, want %d", a, b, got, want)
			}
			if a.Less(b) != (i < j) {
				t.Errorf("%v.Less(%v) = %v", a, b, a.Less(b))
			}
		}
	}
}
