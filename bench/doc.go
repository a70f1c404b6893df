// Package bench is Chronon's benchmark harness (`chronon benchmark`): it
// starts a local in-process cluster or targets a running one, drives a kv
// (puts and gets) or ledger (transfers) workload from independent client
// sessions with concurrent callers each, and reports throughput, latency
// percentiles from an HDR histogram, CPU time and peak RSS. Sweep runs it
// over client counts and batch sizes against one cluster, and the
// WriteSweep functions write the points as CSV, JSON, a text table and an
// SVG chart of latency against throughput (internal/svgplot).
//
// The load is closed-loop: every caller has one call in flight and issues
// the next when it returns. Calls of the callers of one client may be
// coalesced by the client into one request (client.Client.Submit), so
// "requests" in the results count calls, as an application sees them.
// Measure is that closed loop on its own, over any call (CallFunc): the
// peer benchmark (module bench/peers) measures etcd with it, so both
// systems are measured by the same code.
//
// It drives only the public API (cluster, client), as a user's program
// would; it does not reach into replicas.
package bench
