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
// A replica has a fixed number of connection slots (the replica count - 1
// plus its connections max, by default the data file's ClientsMax). One
// that has none free answers a new connection with
// eviction(too_many_connections) and closes it. Before the
// session is registered, such a refusal from any replica makes Dial return
// ErrTooManyClients at once: a session needs a connection to whichever
// replica is primary, which the client cannot tell before its register is
// answered and which changes with the view, so a full replica means the
// cluster has no room for one more client. After registration a refusal
// ends nothing: the session goes on through the replicas that have room,
// the refusing one is redialled with the next send, and a warning is
// logged at most once a second; if the primary itself keeps refusing, calls
// wait for it and return their context's error, as with an unreachable
// primary.
//
// A request goes to the primary of the newest view the client has seen
// (view mod replica count; view 0 at first). A replica that is not the
// primary answers a request of an older view with redirect, naming its
// view, and the client sends the request at once to that view's primary;
// without a reply within RetryInterval it sends the request to every
// replica. Client.Stats counts both.
//
// The client speaks the protocol of docs/protocol.md over Go's net package
// (it runs inside other programs, on their goroutines, and owns no event
// loop); it knows nothing of a replica's internals.
package client
