// Package journal will own Chronon's preallocated O_DIRECT data file:
// superblock copies, the WAL headers and prepares rings, the client replies
// zone and the grid of checksummed blocks, and crash recovery over them.
package journal
