// Package persist connects a replica to its journal: the adapter that makes
// a journal.Journal a replica.Journal, recovery of a replica from its data
// file after a restart, and the replica limits that match a data file. The
// node (real processes) and the simulator share it, so both recover the
// same way.
package persist
