package replica

import (
	"testing"

	"github.com/chronon-db/chronon/wire"
)

// TestRedirectBoundedPerTick: a normal backup answers a request of an
// older view with redirect (its view, the request's checksum as context),
// at most RedirectsPerTick per tick; the rest are counted, not sent. A
// request that already names the replica's view is not redirected, and a
// replica in a view change redirects nothing.
func TestRedirectBoundedPerTick(t *testing.T) {
	o := newOne(t, 3, 1, func(c *Config) { c.RedirectsPerTick = 3 })
	// A normal backup of view 2 (primary 2), as if it had installed it.
	o.r.view, o.r.logView = 2, 2
	var reqs [][]byte
	for i := range 5 {
		reqs = append(reqs, rawRequest(o.cfg, wire.Uint128{Lo: uint64(100 + i)}, 0, 0, wire.Uint128{}, 0))
	}
	out := o.send(reqs...)
	if len(out) != 3 {
		t.Fatalf("sent %d messages in one tick, want 3 redirects: %+v", len(out), out)
	}
	for i, h := range out {
		var req wire.Header
		req.Decode(reqs[i])
		if h.Command != wire.CommandRedirect || h.View != o.r.view || h.Client != req.Client || h.Context != req.Checksum || h.Replica != 1 {
			t.Fatalf("redirect %d: %+v", i, h)
		}
		if err := h.Validate(&o.r.wcfg); err != nil {
			t.Fatalf("redirect %d does not validate: %v", i, err)
		}
	}
	if c := o.r.Counters; c.Redirects != 3 || c.DropRedirectLimit != 2 || c.DropNotPrimary != 5 {
		t.Fatalf("counters: redirects %d, limited %d, not primary %d", c.Redirects, c.DropRedirectLimit, c.DropNotPrimary)
	}
	o.r.Tick()
	if out := o.send(reqs[4]); len(out) != 1 || out[0].Command != wire.CommandRedirect {
		t.Fatalf("next tick: %+v", out)
	}
	// A request of the replica's own view: nothing to tell.
	h := wire.Header{Cluster: o.cfg.Cluster, Size: wire.HeaderSize, View: o.r.view, Protocol: wire.ProtocolVersion,
		Command: wire.CommandRequest, Client: wire.Uint128{Lo: 200}, Operation: wire.OperationRegister}
	msg := make([]byte, wire.HeaderSize)
	wire.Seal(&h, msg)
	o.r.Tick()
	if out := o.send(msg); len(out) != 0 {
		t.Fatalf("redirected a request of the current view: %+v", out)
	}
	// In a view change: nothing.
	for range 8 * o.cfg.NormalTimeoutTicks {
		o.r.Tick()
		if o.r.status == StatusViewChange {
			break
		}
	}
	if o.r.status != StatusViewChange {
		t.Fatalf("no view change started: status %v", o.r.status)
	}
	if out := o.send(reqs[0]); len(out) != 0 {
		t.Fatalf("a replica in a view change redirected: %+v", out)
	}
}
