package replica

import "testing"

// TestLostPrimaryConnectionStartsViewChangeEarly: when the backups learn
// that their connections to the primary closed (a killed process), they
// start a view change after PrimaryLostTimeoutTicks, well before the
// normal timeout, and elect a new primary.
func TestLostPrimaryConnectionStartsViewChangeEarly(t *testing.T) {
	c := newCluster(t, 7, 3, 3, 1000)
	for range 100 {
		c.step()
	}
	if c.replicas[1].View() != 0 || c.replicas[2].View() != 0 {
		t.Fatalf("view change before the primary died: views %d %d", c.replicas[1].View(), c.replicas[2].View())
	}
	c.down[0] = true
	c.replicas[1].OnPeerLost(0)
	c.replicas[2].OnPeerLost(0)
	// Well before the normal timeout (NormalTimeoutTicks, at least 50).
	for range c.cfg.PrimaryLostTimeoutTicks + 10 {
		c.step()
	}
	for _, i := range []int{1, 2} {
		if r := c.replicas[i]; r.View() == 0 {
			t.Fatalf("replica %d still in view 0 %d ticks after losing the primary (normal timeout %d)",
				i, c.cfg.PrimaryLostTimeoutTicks+10, c.cfg.NormalTimeoutTicks)
		}
	}
	c.run(200_000)
	checkLiveConverged(t, c, 7)
}

// TestLostConnectionToALivePrimaryIsForgiven: a backup whose connection to
// a live primary drops keeps hearing from it (the connection is redialled)
// and starts no view change; a backup that loses a backup does nothing.
func TestLostConnectionToALivePrimaryIsForgiven(t *testing.T) {
	c := newCluster(t, 8, 3, 3, 1000)
	for range 100 {
		c.step()
	}
	c.replicas[1].OnPeerLost(0)
	c.replicas[2].OnPeerLost(1)
	for range 2 * c.cfg.NormalTimeoutTicks {
		c.step()
	}
	for i, r := range c.replicas {
		if r.View() != 0 || r.Status() != StatusNormal {
			t.Fatalf("replica %d: view %d status %v after a lost connection to a live peer", i, r.View(), r.Status())
		}
	}
	if c.replicas[1].Counters.PrimaryLost != 1 || c.replicas[2].Counters.PrimaryLost != 0 {
		t.Fatalf("primary-lost counters %d %d", c.replicas[1].Counters.PrimaryLost, c.replicas[2].Counters.PrimaryLost)
	}
}
