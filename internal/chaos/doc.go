// Package chaos runs a Chronon cluster as real `chronon start` processes
// (real TCP, real O_DIRECT data files) under a ledger workload from the
// client package, injects process faults — SIGKILL of the primary, of a
// backup, of two replicas at once, SIGSTOP/SIGCONT of the primary — and
// checks what must hold whatever the faults:
//
//   - no replica log mentions a panic;
//   - every acknowledged transfer is found by lookup at the end, and debits
//     equal credits;
//   - with effects on (`chronon start --effects-url`, delivered to an
//     outbox.Receiver in this process), no effect is applied twice and
//     every created transfer's effect is applied exactly once at the end;
//   - after the faults stop, every replica is up and all reach the same
//     commit number, commit checksum and state digest.
//
// It measures, for each fault, the no-acknowledgement window: the time from
// the fault to the first acknowledgement of a transfer call made after it.
// Assertions are on safety and on convergence within generous deadlines,
// never on timing. `chronon chaos` and the process test in cmd/chronon both
// run it.
package chaos
