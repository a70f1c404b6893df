package client

import (
	"errors"

	"github.com/chronon-db/chronon/ledger"
)

var (
	// ErrClosed is returned by calls on a closed Client.
	ErrClosed = errors.New("client: closed")
	// ErrEvicted means the cluster evicted this client's session (for
	// example because more clients registered than the cluster keeps
	// sessions for), or answered a retry whose large reply it no longer
	// keeps (reason 6, reply_dropped: the request was executed once). The
	// Client cannot continue; create a new one.
	ErrEvicted = errors.New("client: session evicted")
	// ErrTooManyClients means a replica had no connection slot for this
	// client: it answered the connection with eviction(too_many_connections)
	// and closed it before the session was registered, so Dial failed at
	// once. The cluster is at its client capacity (connection slots are
	// the replica count - 1 plus its --connections-max, by default the
	// data file's ClientsMax); retry later
	// or after other clients closed.
	ErrTooManyClients = errors.New("client: too many clients: a replica had no connection slot for this client")
	// ErrTooLarge means a call's body does not fit one request.
	ErrTooLarge = errors.New("client: request body too large")
	// ErrInvalidReply means the cluster's reply could not be split or decoded.
	ErrInvalidReply = errors.New("client: invalid reply")
	// ErrConfig means the Config is unusable.
	ErrConfig = errors.New("client: invalid config")
	// ErrNoOutbox means the cluster runs without an outbox.
	ErrNoOutbox = errors.New("client: the cluster has no outbox")
	// ErrQuery means the ledger answered an account-history query with a
	// result other than ok; the error is a *QueryError naming it.
	ErrQuery = errors.New("client: query refused")
)

// QueryError is the ledger's refusal of an account-history query (the
// filter is malformed, the account does not exist, or it has no balance
// history). It matches ErrQuery with errors.Is.
type QueryError struct {
	Result ledger.QueryResult
}

func (e *QueryError) Error() string { return "client: query refused: " + e.Result.String() }

// Is makes a QueryError match ErrQuery.
func (e *QueryError) Is(target error) bool { return target == ErrQuery }
