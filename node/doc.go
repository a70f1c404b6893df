// Package node runs one Chronon replica: it opens the replica's data file,
// recovers from it, and drives the deterministic replica with a real event
// loop — the io package's IO (io_uring on Linux), the TCP message bus and the
// journal — plus a wall-clock tick.
//
// Everything that touches time, sockets and disks lives here; the replica
// package stays a pure state machine.
package node
