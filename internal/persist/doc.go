// Package persist is the journal side of a replica: the one place where
// package replica meets package journal, which know nothing of each other.
// It has three parts, all mechanical:
//
//   - Adapter makes a journal.Journal the replica.Journal a running replica
//     writes and reads its prepares, views and checkpoints through;
//   - ReadRecovered reads a data file into the replica.Recovered a
//     restarting replica recovers from, and serves it the journaled ops
//     (replica.RecoveryJournal); Recover runs that and replica.Recover;
//   - Limits and CheckpointInterval derive the replica's limits from a data
//     file's configuration.
//
// It decides nothing about the protocol: whether a restarted replica may
// vote is replica.Recover's decision. The node (real processes) and the
// simulator share it, so both run and recover the same way.
package persist
