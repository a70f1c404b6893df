package outbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// HTTP headers of a webhook delivery.
const (
	HeaderIdempotencyKey = "Idempotency-Key"
	HeaderFencingToken   = "Chronon-Fencing-Token"
	HeaderAttempt        = "Chronon-Attempt"
	HeaderKind           = "Chronon-Effect-Kind"
)

// HTTPSink POSTs each effect's payload to its target URL with the headers
// Idempotency-Key (the effect id, 32 hex digits), Chronon-Fencing-Token (the
// view), Chronon-Attempt and Chronon-Effect-Kind. Responses map to
// outcomes:
//   - 2xx: done, result = the response body up to ResultSizeMax bytes;
//   - 409: fenced (a Receiver saw a newer token): no ack;
//   - 408, 429, 5xx, timeouts, connection errors: retry (Retry-After in
//     seconds is passed on as the hint);
//   - other 4xx (and 1xx/3xx left unresolved): permanent failure with
//     ReasonHTTP + status;
//   - a target that is not an absolute http(s) URL: permanent failure with
//     ReasonBadTarget.
type HTTPSink struct {
	// Client sends the requests; nil means http.DefaultClient.
	Client *http.Client
	// Timeout bounds one attempt; 0 means 10 s.
	Timeout time.Duration
	// ResultSizeMax bounds the response bytes kept; 0 means
	// DefaultResultSizeMax.
	ResultSizeMax int
	// Header holds extra headers sent with every request.
	Header http.Header
}

// Deliver POSTs d.
func (s *HTTPSink) Deliver(ctx context.Context, d Delivery) ([]byte, error) {
	u, err := url.Parse(string(d.Target))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, Permanent(ReasonBadTarget, fmt.Errorf("target %q is not an http(s) URL", d.Target))
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(d.Payload))
	if err != nil {
		return nil, Permanent(ReasonBadTarget, err)
	}
	for k, v := range s.Header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set(HeaderIdempotencyKey, d.Key)
	req.Header.Set(HeaderFencingToken, strconv.FormatUint(uint64(d.Token), 10))
	req.Header.Set(HeaderAttempt, strconv.FormatUint(uint64(d.Attempt), 10))
	req.Header.Set(HeaderKind, strconv.FormatUint(uint64(d.Kind), 10))
	client := s.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("outbox: POST %s: %w", u.Redacted(), err)
	}
	defer resp.Body.Close()
	limit := s.ResultSizeMax
	if limit <= 0 {
		limit = DefaultResultSizeMax
	}
	body, readErr := io.ReadAll(io.LimitReader(resp.Body, int64(limit)))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // let the connection be reused
	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		if readErr != nil {
			// The sink applied the effect; the result is best effort.
			body = nil
		}
		return body, nil
	case code == http.StatusConflict:
		return nil, fmt.Errorf("outbox: POST %s: %w", u.Redacted(), ErrFenced)
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		err := fmt.Errorf("outbox: POST %s: status %d", u.Redacted(), code)
		if secs, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && secs > 0 {
			return nil, &RetryError{After: time.Duration(secs) * time.Second, Err: err}
		}
		return nil, err
	default:
		return nil, Permanent(ReasonHTTP+Reason(min(code, 999)), errors.New("status "+strconv.Itoa(code)))
	}
}
