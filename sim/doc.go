// Package sim is Chronon's deterministic cluster simulator (a VOPR in
// TigerBeetle's terms). It runs N real replicas (replica.Replica on a
// journal.Journal over a fault-injecting journal.MemoryStorage, wired with
// persist exactly like node/) and M simulated clients in one goroutine,
// driven by one seed: a simulated network with latency, loss, duplication,
// reordering and partitions; simulated storage with latency, misdirected
// reads and writes, bit rot and torn writes; replica crashes and restarts.
//
// Checkers watch every step: committed ops form one hash chain on every
// replica, every reply comes from the request committed at its op, client
// histories are linearizable (porcupine), every state machine effect is
// applied exactly once, no acknowledged request is lost, and after a final
// fault-free phase the cluster commits again and converges.
//
// The same Options (seed included) produce the same run byte for byte:
// there is no wall clock, no goroutine, and no map iteration whose order
// matters. Reproduce a failure with
//
//	go run ./cmd/chronon vopr --seed N
//
// The simulator owns only the environment — network, storage faults,
// clocks, clients, the effects receiver's transport — and the checkers. It
// must not hold copies of product logic: replicas, journals, recovery
// (replica.Recover through persist), state machines, the outbox table and
// dispatcher are the product's own.
//
// See docs/simulator.md.
package sim
