// Package replica is Chronon's Viewstamped Replication replica: a
// deterministic state machine. Its inputs are messages (OnMessage), ticks
// (Tick) and storage completions (OnPrepareWritten); its outputs are
// messages handed to a Bus and prepares handed to a Journal. It never starts
// goroutines, never reads the wall clock (time comes from the Clock it is
// given) and never lets Go map iteration order decide anything, so a
// simulator can drive several replicas through seeded fault scenarios and
// reproduce any run exactly.
//
// This file's package covers the normal path of VR Revisited §4.1: the
// primary batches client requests into prepares (OperationBatch), pipelines
// up to Config.PipelinePrepareMax of them, commits in op order once a quorum
// has them durable, applies them to the state machine and replies; backups
// journal prepares in hash-chain order, acknowledge them and apply what the
// primary reports committed. Client sessions make requests exactly-once.
// View change, repair and state sync build on this in later work.
//
// A replica restarting on a data file is started by Recover from a
// Recovered (what the journal side read), before any other input; Recover
// decides whether it may vote (RecoveryOutcome).
//
// A Replica is not safe for concurrent use: one event loop owns it.
package replica
