// Package client is Chronon's Go client: pure Go (no cgo), safe for
// concurrent use, with context.Context on every blocking call.
//
// A Client holds one session with the cluster. Sessions allow one request in
// flight at a time, so the client coalesces: calls made while a request is in
// flight queue up, and the next request carries as many of them as fit
// (calls of the same operation whose events can be concatenated, such as
// ledger creates and lookups), and the reply is split back per call. Under
// load, many goroutines share each round trip.
//
// Requests are retried with the same request number until a reply arrives:
// the cluster executes a request at most once and answers a retry with the
// stored reply, so a call that returns a result was executed exactly once.
// A call whose context ends first returns the context's error; its request
// may still commit.
//
// The client speaks the protocol of docs/protocol.md over Go's net package
// (it runs inside other programs, on their goroutines, and owns no event
// loop); it knows nothing of a replica's internals.
package client
