package kv

import "github.com/chronon-db/chronon/wire"

// Validate checks a request body: a known operation, whole records, key
// sizes in [1, 64], value sizes up to ValueSizeMax, known compare_and_set
// flags, and for get a worst-case reply within ReplySizeLimit. An empty body
// is valid (and answered with an empty reply). Validate does not allocate.
func (s *Store) Validate(operation wire.Operation, input []byte) error {
	_, err := records(&s.cfg, operation, input)
	return err
}

// Validate checks a request body as Store.Validate does for a store with
// cfg's ValueSizeMax and ReplySizeLimit (zero fields take their defaults;
// KeysMax is ignored). Clients use it to check a body before sending
// without building a Store.
func Validate(cfg Config, operation wire.Operation, input []byte) error {
	if cfg.ValueSizeMax <= 0 || cfg.ValueSizeMax > ValueSizeLimit {
		cfg.ValueSizeMax = ValueSizeMaxDefault
	}
	if cfg.ReplySizeLimit <= 0 {
		cfg.ReplySizeLimit = ReplySizeLimitDefault
	}
	_, err := records(&cfg, operation, input)
	return err
}

// records returns the number of records in input, or Validate's error.
func records(cfg *Config, operation wire.Operation, input []byte) (int, error) {
	if operation < OperationPut || operation > OperationCompareAndSet {
		return 0, ErrOperation
	}
	n := 0
	for len(input) > 0 {
		r, size, err := decode(uint8(operation), input)
		if err != nil {
			return 0, err
		}
		if len(r.value) > cfg.ValueSizeMax || len(r.expected) > cfg.ValueSizeMax {
			return 0, ErrValueSize
		}
		input = input[size:]
		n++
	}
	if operation == OperationGet && n > cfg.ReplySizeLimit/(getReplyHeaderSize+cfg.ValueSizeMax) {
		return 0, ErrReplySize
	}
	return n, nil
}

// ReplySizeMax bounds the reply: one byte per record for put, delete and
// compare_and_set, one header plus ValueSizeMax per record for get (never
// more than ReplySizeLimit), at least one byte for ResultInvalid, and 0 for
// unknown operations.
func (s *Store) ReplySizeMax(operation wire.Operation, inputSize int) int {
	if inputSize < 0 {
		return 0
	}
	switch operation {
	case OperationPut:
		return max(1, inputSize/(putHeaderSize+1))
	case OperationDelete:
		return max(1, inputSize/(keyHeaderSize+1))
	case OperationCompareAndSet:
		return max(1, inputSize/(casHeaderSize+1))
	case OperationGet:
		n := inputSize / (keyHeaderSize + 1)
		return max(1, min(n, s.cfg.ReplySizeLimit/(getReplyHeaderSize+s.cfg.ValueSizeMax))*(getReplyHeaderSize+s.cfg.ValueSizeMax))
	}
	return 1 // an unknown operation: the single byte invalid
}
