// Package postgres is an outbox sink that applies Chronon effects to
// PostgreSQL exactly once: the effect's work (a Go function running SQL in
// the sink's transaction) and its idempotency key commit in one
// transaction, the key unique, the stored result returned on a duplicate,
// and every key fenced by the highest token seen.
//
// It is a separate Go module (github.com/chronon-db/chronon/sinks/postgres)
// so that the core module does not depend on pgx. A program that embeds
// Chronon passes a *Sink as node.Config.Sink or cluster.Config.Sink; the
// dispatcher hands it batches (it is an outbox.BatchSink), each applied in
// one transaction. A cluster run with the chronon CLI, which links no
// database driver, reaches it through a Bridge: an http.Handler serving
// the CLI's HTTP effect contract in front of a Sink, run as the command
// chronon-pg-bridge (cmd/chronon-pg-bridge; docs/operations.md).
//
// The key table (default chronon_effects) has one row per effect key:
//
//	key text PRIMARY KEY, token bigint, attempt bigint, done boolean,
//	result bytea, updated_at timestamptz
//
// Per delivery, inside the batch's transaction, with the key's row, if it
// has one, locked (SELECT … FOR UPDATE, keys in sorted order so
// concurrent batches never deadlock):
//   - a token below the row's is fenced (outbox.ErrFenced): nothing runs;
//   - a row already done: the stored result is returned (a replay), the
//     work does not run again;
//   - otherwise the row's token is raised to the delivery's, and the
//     work runs (inside a savepoint when a batch retries): on success the
//     row becomes done with the result, in the same commit as the work; on
//     an error the savepoint is rolled back (the work is undone, the
//     raised token stays) and the error is the delivery's outcome (an
//     outbox.PermanentError fails the effect, anything else retries it).
//   - a key without a row gets one after its work, in one INSERT … ON
//     CONFLICT DO NOTHING for the batch: done with its result, or (failed
//     work) not done at the delivery's token. If another transaction
//     inserted one of these keys meanwhile (a concurrent delivery of the
//     same effect), fewer rows are inserted than asked: the batch is
//     rolled back, its work undone, and it runs again (up to 3 times),
//     finding that key's row.
//
// The work is Config.Apply, one call per effect, or Config.ApplyBatch,
// one call for every effect of the batch that is to run (for example one
// multi-row INSERT: the round trips of a batch no longer grow with its
// size). A key delivered twice in one batch runs once, as if its delivery
// with the highest token came first: the others get its outcome, or
// outbox.ErrFenced below its token.
//
// A batch first runs the work without savepoints; if it fails, the
// batch is rolled back whole and runs again with a savepoint per effect
// (Apply, or ApplyBatch with one delivery), so the work of a failing
// effect may run twice, each run undone. If the commit fails, nothing of
// the batch happened and every delivery is retried.
package postgres
