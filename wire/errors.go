package wire

import (
	"errors"

	"github.com/chronon-db/chronon/internal/invariants"
)

// Error kinds returned by DecodeHeader, Validate and VerifyBody. Every error
// from this package wraps exactly one of them, so callers can count drops by
// kind with errors.Is.
var (
	// ErrShort means fewer than HeaderSize bytes were given.
	ErrShort = errors.New("wire: buffer shorter than header")
	// ErrChecksum means the header checksum does not match header bytes [16, 256).
	ErrChecksum = errors.New("wire: header checksum mismatch")
	// ErrChecksumBody means the body does not match the header's ChecksumBody.
	ErrChecksumBody = errors.New("wire: body checksum mismatch")
	// ErrProtocol means the header speaks another protocol version.
	ErrProtocol = errors.New("wire: unsupported protocol version")
	// ErrCluster means the header belongs to another cluster.
	ErrCluster = errors.New("wire: wrong cluster")
	// ErrSize means Size is below HeaderSize, above the maximum message size,
	// not allowed for the command, or does not match the body given.
	ErrSize = errors.New("wire: invalid size")
	// ErrCommand means the command is reserved or unknown.
	ErrCommand = errors.New("wire: invalid command")
	// ErrReserved means a reserved header byte is not zero.
	ErrReserved = errors.New("wire: reserved bytes not zero")
	// ErrReplica means the replica index is out of range for the cluster.
	ErrReplica = errors.New("wire: replica index out of range")
	// ErrField means a command-specific field rule is broken.
	ErrField = errors.New("wire: invalid field")
)

// FieldError says which field of which command broke which rule. It wraps
// one of the error kinds above. All FieldErrors are built once at start-up,
// so returning one does not allocate.
type FieldError struct {
	Command Command // command of the rejected header
	Field   string  // field name as in docs/protocol.md
	Rule    string  // the rule the field broke
	kind    error
}

// Error implements error.
func (e *FieldError) Error() string {
	return e.kind.Error() + ": " + e.Command.String() + ": " + e.Field + " " + e.Rule
}

// Unwrap returns the error kind, for errors.Is.
func (e *FieldError) Unwrap() error { return e.kind }

func newFieldError(kind error, c Command, field, rule string) *FieldError {
	invariants.Assert(kind != nil && field != "" && rule != "", "wire: field error without a kind, field or rule")
	return &FieldError{Command: c, Field: field, Rule: rule, kind: kind}
}
