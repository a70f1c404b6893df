//go:build invariants

package invariants

import "testing"

func TestEnabledUnderTag(t *testing.T) {
	if !Enabled {
		t.Fatal("Enabled is false in a build with the invariants tag")
	}
}
