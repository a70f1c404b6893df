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
	// Client sends the requests; nil means a client shared by every
	// HTTPSink whose transport keeps up to 256 idle connections per host
	// alive (http.DefaultClient keeps 2, so more concurrent workers would
	// open a connection per request).
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
	ctx, cancel := context.WithTimeout(ctx, s.timeout())
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
	resp, err := s.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("outbox: POST %s: %w", u.Redacted(), err)
	}
	defer resp.Body.Close()
	body, readErr := io.ReadAll(io.LimitReader(resp.Body, int64(s.resultSizeMax())))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // let the connection be reused
	if readErr != nil {
		// A 2xx means the sink applied the effect; the result is best
		// effort.
		body = nil
	}
	return body, httpStatusError(u, resp.StatusCode, resp.Header.Get("Retry-After"))
}

// httpStatusError maps an HTTP status (of one delivery, or of a whole batch
// request) to Deliver's error: nil for 2xx, ErrFenced for 409, a transient
// error (with the Retry-After hint in seconds) for 408, 429 and 5xx, a
// permanent ReasonHTTP+status failure otherwise.
func httpStatusError(u *url.URL, code int, retryAfter string) error {
	switch {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusConflict:
		return fmt.Errorf("outbox: POST %s: %w", u.Redacted(), ErrFenced)
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		err := fmt.Errorf("outbox: POST %s: status %d", u.Redacted(), code)
		if secs, perr := strconv.Atoi(retryAfter); perr == nil && secs > 0 {
			return &RetryError{After: time.Duration(secs) * time.Second, Err: err}
		}
		return err
	default:
		return Permanent(ReasonHTTP+Reason(min(max(code, 0), 999)), errors.New("status "+strconv.Itoa(code)))
	}
}

func (s *HTTPSink) client() *http.Client {
	if s.Client != nil {
		return s.Client
	}
	return sharedHTTPClient
}

func (s *HTTPSink) resultSizeMax() int {
	if s.ResultSizeMax <= 0 {
		return DefaultResultSizeMax
	}
	return s.ResultSizeMax
}

func (s *HTTPSink) timeout() time.Duration {
	if s.Timeout <= 0 {
		return 10 * time.Second
	}
	return s.Timeout
}

// sharedHTTPClient is the HTTPSinks' default client: one transport, so
// every sink reuses its connections (keep-alive) across deliveries.
var sharedHTTPClient = &http.Client{Transport: &http.Transport{
	Proxy:               http.ProxyFromEnvironment,
	MaxIdleConns:        1024,
	MaxIdleConnsPerHost: 256,
	IdleConnTimeout:     90 * time.Second,
	TLSHandshakeTimeout: 10 * time.Second,
	ForceAttemptHTTP2:   true,
}}
