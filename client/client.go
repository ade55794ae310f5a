// Package client is the Go client of the Duroscope query service
// (../shared/contract/API.md) for internal tools. Every endpoint has a typed
// method that takes a context and returns the api package's types; errors of
// the service come back as *APIError.
//
// A Client is safe for concurrent use.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultUserAgent is sent unless WithUserAgent says otherwise.
const DefaultUserAgent = "duroscope-go-client"

// Projection headers of every /v1 response.
const (
	HeaderLagEvents        = "X-Projection-Lag-Events"
	HeaderProjectedThrough = "X-Projected-Through"
)

// maxErrorBody bounds how much of an error response is read: the contract's
// envelope is small, anything bigger is not ours (a proxy page).
const maxErrorBody = 64 << 10

// Backoff for a 503 that carries no Retry-After.
const (
	retryBaseDelay = 250 * time.Millisecond
	retryMaxDelay  = 5 * time.Second
)

// Client calls one Duroscope query service.
type Client struct {
	base      string // scheme://host[/prefix], escaped, no trailing '/'
	hc        *http.Client
	token     string
	userAgent string
	timeout   time.Duration
	retries   int
	observe   func(ProjectionInfo)
	minSeq    uint64 // WithMinSeq; a context's ContextWithMinSeq wins
	// sleep waits between retries; tests replace it to record the waits.
	sleep func(ctx context.Context, d time.Duration) error
	now   func() time.Time

	mu      sync.Mutex
	last    ProjectionInfo
	hasLast bool
}

// Option configures a Client.
type Option func(*Client) error

// WithHTTPClient sets the http.Client used for every request (transport,
// proxies, TLS). The default is a fresh http.Client without a timeout.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) error {
		if hc == nil {
			return errors.New("WithHTTPClient: http client is nil")
		}
		c.hc = hc
		return nil
	}
}

// WithToken sends "Authorization: Bearer <token>"; "" sends no header.
func WithToken(token string) Option {
	return func(c *Client) error {
		c.token = token
		return nil
	}
}

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option {
	return func(c *Client) error {
		c.userAgent = ua
		return nil
	}
}

// WithTimeout bounds each method call, retries and (for Export) reading the
// streamed body included. 0 means no bound beyond the caller's context.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) error {
		if d < 0 {
			return fmt.Errorf("WithTimeout: negative timeout %s", d)
		}
		c.timeout = d
		return nil
	}
}

// WithRetry retries a request up to n more times when the service answers
// 503 (ClickHouse unreachable or overloaded), waiting as long as its
// Retry-After says (a short exponential backoff when it says nothing). Off
// (n = 0) by default. A wait that would outlast the context's deadline is not
// started: the 503 is returned at once.
func WithRetry(n int) Option {
	return func(c *Client) error {
		if n < 0 {
			return fmt.Errorf("WithRetry: negative retry count %d", n)
		}
		c.retries = n
		return nil
	}
}

// WithProjectionObserver calls f with the projection headers of every
// response that carries them (errors included), in the goroutine that made
// the call. Use it when concurrent calls make LastProjection ambiguous.
func WithProjectionObserver(f func(ProjectionInfo)) Option {
	return func(c *Client) error {
		c.observe = f
		return nil
	}
}

// WithMinSeq makes every call of the client carry min_seq=seq (see
// ContextWithMinSeq, which sets it per call and takes precedence). Zero,
// the default, adds nothing.
func WithMinSeq(seq uint64) Option {
	return func(c *Client) error {
		c.minSeq = seq
		return nil
	}
}

// New returns a client for the service at baseURL (e.g.
// "http://127.0.0.1:8080"; a path prefix such as "https://h/duroscope" is
// kept in front of every endpoint path).
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("duroscope client: base URL %q (want http[s]://host[:port][/prefix]): %w", baseURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("duroscope client: base URL %q: scheme must be http or https (want http[s]://host[:port][/prefix])", baseURL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("duroscope client: base URL %q: missing host", baseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("duroscope client: base URL %q: must not have a query or fragment", baseURL)
	}
	c := &Client{
		base:      u.Scheme + "://" + u.Host + strings.TrimRight(u.EscapedPath(), "/"),
		hc:        &http.Client{},
		userAgent: DefaultUserAgent,
		sleep:     sleepCtx,
		now:       time.Now,
	}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, fmt.Errorf("duroscope client: %w", err)
		}
	}
	return c, nil
}

// ProjectionInfo is what a response says about the read model's freshness.
type ProjectionInfo struct {
	// LagEvents = stream messages not yet in the read model.
	LagEvents uint64
	// ProjectedThrough = publish time of the newest message such that it and
	// every message before it are projected; nil before the first.
	ProjectedThrough *time.Time
}

// LastProjection returns the projection headers of the most recent response
// that carried them; ok is false until one did (the service sends them once
// anything has been projected).
func (c *Client) LastProjection() (info ProjectionInfo, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last, c.hasLast
}

// captureProjection records the projection headers. A malformed header value
// is ignored rather than failing a call whose answer is otherwise fine.
func (c *Client) captureProjection(h http.Header) {
	lag, through := h.Get(HeaderLagEvents), h.Get(HeaderProjectedThrough)
	if lag == "" && through == "" {
		return
	}
	var info ProjectionInfo
	if n, err := strconv.ParseUint(strings.TrimSpace(lag), 10, 64); err == nil {
		info.LagEvents = n
	}
	if t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(through)); err == nil {
		t = t.UTC()
		info.ProjectedThrough = &t
	}
	c.mu.Lock()
	c.last, c.hasLast = info, true
	c.mu.Unlock()
	if c.observe != nil {
		c.observe(info)
	}
}

// APIError is a non-2xx answer of the service.
type APIError struct {
	StatusCode int
	// Code is the contract's error code (invalid_argument, unauthenticated,
	// not_found, too_large, unavailable, internal); "" when the body was not
	// the contract's envelope (e.g. a proxy's page).
	Code string
	// Message is the service's message, or the start of a foreign body.
	Message string
	// RetryAfter is the parsed Retry-After header (503), 0 when absent.
	RetryAfter time.Duration
	// Method and Path identify the request (Path as sent, escaped).
	Method string
	Path   string
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "duroscope: %s %s: HTTP %d", e.Method, e.Path, e.StatusCode)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

// IsNotFound reports whether err is a 404 of the service: no such instance,
// or no such execution for History.
func IsNotFound(err error) bool { return hasStatus(err, http.StatusNotFound) }

// IsUnavailable reports whether err is a 503 of the service.
func IsUnavailable(err error) bool { return hasStatus(err, http.StatusServiceUnavailable) }

// IsUnauthenticated reports whether err is a 401 of the service.
func IsUnauthenticated(err error) bool { return hasStatus(err, http.StatusUnauthorized) }

func hasStatus(err error, status int) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.StatusCode == status
}

// request is one logical call; it can be sent several times (retries), so
// the body is kept as bytes.
type request struct {
	method string
	path   string // escaped, starting with '/'
	query  url.Values
	body   []byte // JSON; nil = no body
	accept string
	header http.Header // extra request headers
	// untimed: the call is a long-lived stream; WithTimeout bounds only
	// its connection (the http.Client's own settings), not its reading.
	untimed bool
}

// send performs the call with retries and returns a 2xx response. The
// caller must close the body and then call done (which releases the call's
// timeout).
func (c *Client) send(ctx context.Context, r request) (resp *http.Response, done context.CancelFunc, err error) {
	cancel := context.CancelFunc(func() {})
	if c.timeout > 0 && !r.untimed {
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
	}
	target := c.base + r.path
	if q := c.withMinSeq(ctx, r.query); len(q) > 0 {
		target += "?" + q.Encode()
	}
	for attempt := 0; ; attempt++ {
		var body io.Reader
		if r.body != nil {
			body = bytes.NewReader(r.body)
		}
		req, err := http.NewRequestWithContext(ctx, r.method, target, body)
		if err != nil {
			cancel()
			return nil, nil, fmt.Errorf("duroscope: %s %s: building request: %w", r.method, r.path, err)
		}
		if r.body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		accept := r.accept
		if accept == "" {
			accept = "application/json"
		}
		req.Header.Set("Accept", accept)
		if c.userAgent != "" {
			req.Header.Set("User-Agent", c.userAgent)
		}
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		for k, v := range r.header {
			req.Header[k] = v
		}
		resp, err := c.hc.Do(req)
		if err != nil {
			cancel()
			return nil, nil, fmt.Errorf("duroscope: %s %s: %w", r.method, r.path, err)
		}
		c.captureProjection(resp.Header)
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			return resp, cancel, nil
		}
		apiErr := c.readError(resp, r)
		if resp.StatusCode != http.StatusServiceUnavailable || attempt >= c.retries {
			cancel()
			return nil, nil, apiErr
		}
		wait := apiErr.RetryAfter
		if wait <= 0 {
			wait = min(retryBaseDelay<<attempt, retryMaxDelay)
		}
		if dl, ok := ctx.Deadline(); ok && c.now().Add(wait).After(dl) {
			cancel()
			return nil, nil, apiErr
		}
		if err := c.sleep(ctx, wait); err != nil {
			cancel()
			return nil, nil, fmt.Errorf("%w (retry abandoned: %w)", apiErr, err)
		}
	}
}

// readError consumes and closes an error response.
func (c *Client) readError(resp *http.Response, r request) *APIError {
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	e := &APIError{
		StatusCode: resp.StatusCode,
		Method:     r.method,
		Path:       r.path,
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), c.now()),
	}
	var env struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(raw, &env) == nil && env.Error != nil && env.Error.Code != "" {
		e.Code, e.Message = env.Error.Code, env.Error.Message
		return e
	}
	msg := strings.TrimSpace(string(raw))
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	e.Message = msg
	return e
}

// parseRetryAfter reads delta-seconds or an HTTP date; 0 when absent or
// unparsable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// getJSON performs r and decodes the JSON answer into out.
func (c *Client) getJSON(ctx context.Context, r request, out any) error {
	resp, done, err := c.send(ctx, r)
	if err != nil {
		return err
	}
	defer done()
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("duroscope: %s %s: decoding the answer: %w", r.method, r.path, err)
	}
	return nil
}

// noBody performs r and only checks its status (healthz, readyz).
func (c *Client) noBody(ctx context.Context, r request) error {
	resp, done, err := c.send(ctx, r)
	if err != nil {
		return err
	}
	defer done()
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	return nil
}

// streamBody is a response body that also releases the call's timeout.
type streamBody struct {
	io.ReadCloser
	done context.CancelFunc
}

func (s *streamBody) Close() error {
	err := s.ReadCloser.Close()
	s.done()
	return err
}

type minSeqKey struct{}

// ContextWithMinSeq returns a context whose calls are answered only once the
// service has projected everything up to stream sequence seq (the min_seq
// parameter of API.md "Additions"): read-your-writes after publishing an
// event whose JetStream acknowledgement carried seq. A service that does not
// reach it within its query timeout answers 503 with Retry-After, which the
// client retries like any 503 (WithRetry). Zero removes the condition, also
// one set by WithMinSeq.
func ContextWithMinSeq(ctx context.Context, seq uint64) context.Context {
	return context.WithValue(ctx, minSeqKey{}, seq)
}

// withMinSeq adds min_seq to q (a copy) when ctx or the client carries one.
func (c *Client) withMinSeq(ctx context.Context, q url.Values) url.Values {
	seq, ok := ctx.Value(minSeqKey{}).(uint64)
	if !ok {
		seq = c.minSeq
	}
	if seq == 0 {
		return q
	}
	out := make(url.Values, len(q)+1)
	for k, v := range q {
		out[k] = v
	}
	out.Set("min_seq", strconv.FormatUint(seq, 10))
	return out
}
