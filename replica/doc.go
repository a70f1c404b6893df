// Package replica will hold Chronon's Viewstamped Replication replica: a
// deterministic state machine whose inputs are messages, ticks and storage
// completions and whose outputs are messages and storage writes. No
// goroutines, wall clock or map-order dependence live here.
//
// See ../shared/design/ARCHITECTURE.md of the project and docs/protocol.md.
package replica
