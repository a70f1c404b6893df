package outbox

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// The HTTP batch form (HTTPBatchSink): many effects of one target and one
// fencing token in one POST. Bodies are little-endian:
//
//	request:  count u32 | token u32, then count records:
//	          key [32]byte (the Idempotency-Key, ASCII hex) | attempt u32 |
//	          kind u16 | reserved u16 (0) | payload_size u32 | payload
//	response: count u32 (= the request's) | reserved u32 (0), then count
//	          records in request order:
//	          status u16 | reserved u16 (0) | retry_after u32 (seconds) |
//	          result_size u32 | result
//
// Each record's status has the meaning of a single delivery's HTTP status
// (2xx done with result, 409 fenced, 408/429/5xx retry, other 4xx failed).
// A response status other than 200 applies to every effect of the
// request; a 200 whose body does not decode retries them all.
const (
	// ContentTypeBatch is the Content-Type of batch requests and their
	// 200 responses.
	ContentTypeBatch = "application/vnd.chronon.effects-batch"
	// HeaderBatch carries the number of effects of a batch request.
	HeaderBatch = "Chronon-Batch"

	batchHeaderSize         = 8
	batchRecordSize         = 32 + 4 + 2 + 2 + 4
	batchResponseRecordSize = 2 + 2 + 4 + 4
	// BatchEffectsMax bounds the effects of one batch request.
	BatchEffectsMax = 1 << 16
)

// ErrBatchBody means a batch request or response body does not decode.
var ErrBatchBody = errors.New("outbox: malformed effects batch body")

// BatchEffect is one record of a decoded batch request.
type BatchEffect struct {
	Key     string
	Token   uint32
	Attempt uint32
	Kind    Kind
	Payload []byte // aliases the request body
}

// BatchOutcome is one record of a batch response.
type BatchOutcome struct {
	// Status is the HTTP status of this effect alone.
	Status int
	// RetryAfter is a hint for 408, 429 and 5xx (whole seconds).
	RetryAfter time.Duration
	Result     []byte
}

// AppendBatchRequest appends the batch request body of ds (same token) to
// dst.
func AppendBatchRequest(dst []byte, ds []Delivery) []byte {
	var token uint32
	if len(ds) > 0 {
		token = ds[0].Token
	}
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(ds)))
	dst = binary.LittleEndian.AppendUint32(dst, token)
	for i := range ds {
		var key [32]byte
		copy(key[:], ds[i].Key)
		dst = append(dst, key[:]...)
		dst = binary.LittleEndian.AppendUint32(dst, ds[i].Attempt)
		dst = binary.LittleEndian.AppendUint16(dst, uint16(ds[i].Kind))
		dst = binary.LittleEndian.AppendUint16(dst, 0)
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(ds[i].Payload)))
		dst = append(dst, ds[i].Payload...)
	}
	return dst
}

// BatchRequestSize is the size of the batch request body of ds.
func BatchRequestSize(ds []Delivery) int {
	n := batchHeaderSize
	for i := range ds {
		n += batchRecordSize + len(ds[i].Payload)
	}
	return n
}

// DecodeBatchRequest decodes a batch request body (what a sink receives)
// into dst, checking every byte; payloads alias body.
func DecodeBatchRequest(dst []BatchEffect, body []byte) ([]BatchEffect, error) {
	if len(body) < batchHeaderSize {
		return dst, fmt.Errorf("%w: %d bytes, want a header", ErrBatchBody, len(body))
	}
	count := binary.LittleEndian.Uint32(body[0:4])
	token := binary.LittleEndian.Uint32(body[4:8])
	if count > BatchEffectsMax || uint64(count)*batchRecordSize > uint64(len(body)) {
		return dst, fmt.Errorf("%w: count %d does not fit %d bytes", ErrBatchBody, count, len(body))
	}
	b := body[batchHeaderSize:]
	for i := range count {
		if len(b) < batchRecordSize {
			return dst, fmt.Errorf("%w: record %d truncated", ErrBatchBody, i)
		}
		key := b[0:32]
		for _, c := range key {
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return dst, fmt.Errorf("%w: record %d: key is not 32 lowercase hex digits", ErrBatchBody, i)
			}
		}
		attempt := binary.LittleEndian.Uint32(b[32:36])
		kind := binary.LittleEndian.Uint16(b[36:38])
		if binary.LittleEndian.Uint16(b[38:40]) != 0 || attempt == 0 {
			return dst, fmt.Errorf("%w: record %d: attempt 0 or reserved bytes set", ErrBatchBody, i)
		}
		size := binary.LittleEndian.Uint32(b[40:44])
		if uint64(size) > uint64(len(b)-batchRecordSize) {
			return dst, fmt.Errorf("%w: record %d: payload of %d bytes past the body", ErrBatchBody, i, size)
		}
		dst = append(dst, BatchEffect{Key: string(key), Token: token, Attempt: attempt, Kind: Kind(kind),
			Payload: b[batchRecordSize : batchRecordSize+size : batchRecordSize+size]})
		b = b[batchRecordSize+size:]
	}
	if len(b) != 0 {
		return dst, fmt.Errorf("%w: %d bytes after the last record", ErrBatchBody, len(b))
	}
	return dst, nil
}

// AppendBatchResponse appends the 200 response body of a batch request
// (one outcome per effect, in request order) to dst.
func AppendBatchResponse(dst []byte, outcomes []BatchOutcome) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(outcomes)))
	dst = binary.LittleEndian.AppendUint32(dst, 0)
	for i := range outcomes {
		o := &outcomes[i]
		dst = binary.LittleEndian.AppendUint16(dst, uint16(min(max(o.Status, 0), 999)))
		dst = binary.LittleEndian.AppendUint16(dst, 0)
		dst = binary.LittleEndian.AppendUint32(dst, uint32(min(max(o.RetryAfter/time.Second, 0), math.MaxUint32)))
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(o.Result)))
		dst = append(dst, o.Result...)
	}
	return dst
}

// DecodeBatchResponse decodes a batch response body of want records into
// dst, checking every byte; results alias body.
func DecodeBatchResponse(dst []BatchOutcome, body []byte, want int) ([]BatchOutcome, error) {
	if len(body) < batchHeaderSize {
		return dst, fmt.Errorf("%w: %d bytes, want a header", ErrBatchBody, len(body))
	}
	count := binary.LittleEndian.Uint32(body[0:4])
	if uint64(count) != uint64(want) || binary.LittleEndian.Uint32(body[4:8]) != 0 {
		return dst, fmt.Errorf("%w: %d outcomes for %d effects", ErrBatchBody, count, want)
	}
	b := body[batchHeaderSize:]
	for i := range count {
		if len(b) < batchResponseRecordSize {
			return dst, fmt.Errorf("%w: outcome %d truncated", ErrBatchBody, i)
		}
		status := binary.LittleEndian.Uint16(b[0:2])
		if status < 100 || status > 999 || binary.LittleEndian.Uint16(b[2:4]) != 0 {
			return dst, fmt.Errorf("%w: outcome %d: status %d", ErrBatchBody, i, status)
		}
		after := binary.LittleEndian.Uint32(b[4:8])
		size := binary.LittleEndian.Uint32(b[8:12])
		if uint64(size) > uint64(len(b)-batchResponseRecordSize) {
			return dst, fmt.Errorf("%w: outcome %d: result of %d bytes past the body", ErrBatchBody, i, size)
		}
		dst = append(dst, BatchOutcome{Status: int(status), RetryAfter: time.Duration(after) * time.Second,
			Result: b[batchResponseRecordSize : batchResponseRecordSize+size : batchResponseRecordSize+size]})
		b = b[batchResponseRecordSize+size:]
	}
	if len(b) != 0 {
		return dst, fmt.Errorf("%w: %d bytes after the last outcome", ErrBatchBody, len(b))
	}
	return dst, nil
}

// HTTPBatchSink delivers effects to webhooks that accept the batch form:
// DeliverBatch POSTs the effects of one target in one request
// (Content-Type ContentTypeBatch, headers Chronon-Batch: count and
// Chronon-Fencing-Token) and maps each record of the response to its
// effect's outcome, as HTTPSink maps a status. Deliver (one effect) uses
// the single form of HTTPSink. The dispatcher's workers hand it up to
// DispatcherConfig.BatchMax effects at a time.
type HTTPBatchSink struct {
	HTTPSink
}

// DeliverBatch POSTs ds (one target, one token) as one batch request.
func (s *HTTPBatchSink) DeliverBatch(ctx context.Context, ds []Delivery, out []BatchResult) {
	fail := func(err error) {
		for i := range out {
			out[i] = BatchResult{Err: err}
		}
	}
	if len(ds) == 0 {
		return
	}
	u, err := url.Parse(string(ds[0].Target))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		fail(Permanent(ReasonBadTarget, fmt.Errorf("target %q is not an http(s) URL", ds[0].Target)))
		return
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(AppendBatchRequest(make([]byte, 0, BatchRequestSize(ds)), ds)))
	if err != nil {
		fail(Permanent(ReasonBadTarget, err))
		return
	}
	for k, v := range s.Header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", ContentTypeBatch)
	req.Header.Set(HeaderBatch, strconv.Itoa(len(ds)))
	req.Header.Set(HeaderFencingToken, strconv.FormatUint(uint64(ds[0].Token), 10))
	resp, err := s.client().Do(req)
	if err != nil {
		fail(fmt.Errorf("outbox: POST %s: %w", u.Redacted(), err))
		return
	}
	defer resp.Body.Close()
	limit := int64(len(ds)) * int64(batchResponseRecordSize+s.resultSizeMax())
	body, err := io.ReadAll(io.LimitReader(resp.Body, batchHeaderSize+limit+1))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // let the connection be reused
	if resp.StatusCode != http.StatusOK {
		fail(httpStatusError(u, resp.StatusCode, resp.Header.Get("Retry-After")))
		return
	}
	if err != nil {
		fail(fmt.Errorf("outbox: POST %s: reading the batch response: %w", u.Redacted(), err))
		return
	}
	outcomes, err := DecodeBatchResponse(make([]BatchOutcome, 0, len(ds)), body, len(ds))
	if err != nil {
		fail(fmt.Errorf("outbox: POST %s: %w", u.Redacted(), err))
		return
	}
	for i := range outcomes {
		o := &outcomes[i]
		if err := httpStatusError(u, o.Status, strconv.Itoa(int(o.RetryAfter/time.Second))); err != nil {
			out[i] = BatchResult{Err: err}
			continue
		}
		out[i] = BatchResult{Result: o.Result[:min(len(o.Result), s.resultSizeMax())]}
	}
}
