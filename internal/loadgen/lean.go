package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"
)

// LeanCaller returns a Caller that POSTs r over its own keep-alive
// HTTP/1.1 connections, at most conns of them, and the function that
// closes them. The request's bytes are built once; a call writes them and
// reads the answer with http.ReadResponse on the calling goroutine (a
// request over 64 KiB is written by a second one meanwhile, see
// inlineWrite). What it sends is what net/http's client sends for r but
// the User-Agent, and it counts answers as that client does.
//
// Why: net/http's Transport hands every request to two goroutines per
// connection (its read and write loops) and builds a Request, a header map
// and a Response each time, ~30 µs of CPU per request on the 2-vCPU
// machine the benchmarks run on. The load generator shares that machine
// with the server it measures, so what the client spends the server does
// not get; a lean client is what wrk or h2load are to curl. It speaks only
// plain http:// (TLS targets use HTTPCaller).
func LeanCaller(r Request, conns int) (Caller, func(), error) {
	l, err := newLean(r, conns)
	if err != nil {
		return nil, nil, err
	}
	return l.call, l.close, nil
}

func newLean(r Request, conns int) (*lean, error) {
	u, err := url.Parse(r.URL)
	if err != nil {
		return nil, fmt.Errorf("lean client: %w", err)
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("lean client: %s: only http:// targets (use the standard client for %s)", r.URL, u.Scheme)
	}
	if conns < 1 {
		return nil, errors.New("lean client: needs at least one connection")
	}
	if u.Host == "" {
		return nil, fmt.Errorf("lean client: %s: no host", r.URL)
	}
	// Names in other scripts are dialed and sent in their ASCII form
	// (bücher.example as xn--bcher-kva.example), as net/http does.
	hostname, err := httpguts.PunycodeHostPort(u.Hostname())
	if err != nil {
		return nil, fmt.Errorf("lean client: %s: %w", r.URL, err)
	}
	port := u.Port()
	if port == "" {
		port = "80"
	}
	addr := net.JoinHostPort(hostname, port)
	host, err := httpguts.PunycodeHostPort(u.Host)
	if err != nil {
		return nil, fmt.Errorf("lean client: %s: %w", r.URL, err)
	}
	// The request net/http's client writes for r (see HTTPCaller): Host
	// from the URL, without an empty port or an IPv6 zone (which names
	// this machine's interface, not the server); its own User-Agent unless
	// the header has one; the body's length; Basic authorization from
	// the URL's user info unless the header authorizes. Host, length and
	// framing in r.Header are not sent: they are the request's own.
	h := r.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	for k, vv := range h {
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldName(k) || !httpguts.ValidHeaderFieldValue(v) {
				return nil, fmt.Errorf("lean client: invalid header %q: %q", k, v)
			}
		}
	}
	ua := "mlship-bench"
	if v, ok := h["User-Agent"]; ok {
		ua = ""
		if len(v) > 0 {
			ua = v[0]
		}
	}
	for _, k := range []string{"Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer"} {
		delete(h, k)
	}
	if u.User != nil && h.Get("Authorization") == "" {
		pass, _ := u.User.Password()
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(u.User.Username()+":"+pass)))
	}
	h.Set("Content-Type", r.ContentType)
	h.Set("Content-Length", strconv.Itoa(len(r.Body)))
	var head bytes.Buffer
	fmt.Fprintf(&head, "POST %s HTTP/1.1\r\nHost: %s\r\n", u.RequestURI(), hostHeader(host))
	if ua != "" {
		fmt.Fprintf(&head, "User-Agent: %s\r\n", ua)
	}
	if err := h.Write(&head); err != nil {
		return nil, fmt.Errorf("lean client: %w", err)
	}
	head.WriteString("\r\n")
	head.Write(r.Body)
	l := &lean{addr: addr, wire: head.Bytes(), slots: make(chan struct{}, conns), retryIdle: retryIdle}
	for range conns {
		l.slots <- struct{}{}
	}
	return l, nil
}

// hostHeader is host as net/http writes it in the Host line: without a
// trailing ":" (an empty port) or an IPv6 zone ("[fe80::1%eth0]:8080"
// is sent as "[fe80::1]:8080").
func hostHeader(host string) string {
	host = strings.TrimSuffix(host, ":")
	if strings.HasPrefix(host, "[") {
		if end := strings.LastIndexByte(host, ']'); end > 0 {
			if zone := strings.LastIndexByte(host[:end], '%'); zone > 0 {
				host = host[:zone] + host[end:]
			}
		}
	}
	return host
}

type lean struct {
	addr string
	wire []byte // the whole request: head and body
	// slots holds a token per connection: a call holds one while it
	// uses a connection, so there are at most conns of them and no two
	// calls share one.
	slots chan struct{}
	// retryIdle is the package's retryIdle; tests shorten it.
	retryIdle time.Duration

	mu     sync.Mutex
	closed bool
	// idle are the connections ready for a request, the most recently
	// used last. A call takes that one, and dials only when none is idle,
	// as net/http's Transport does: fewer workers than slots keep using
	// as many connections as they need, not every slot's in turn (which
	// would dial them all at the first level and spread the server's load
	// over connections a net/http client would not have).
	idle []*leanConn
	open map[*leanConn]struct{}
}

type leanConn struct {
	net.Conn
	br        *bufio.Reader
	idleSince time.Time // when its last answer was read
}

// past is a deadline that has passed: setting it unblocks a call's I/O
// when its context ends.
var past = time.Unix(1, 0)

func (l *lean) call(ctx context.Context) (int, error) {
	select {
	case <-l.slots:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	status, c, err := l.roundTrip(ctx, l.takeIdle())
	if c != nil {
		l.putIdle(c)
	}
	l.slots <- struct{}{}
	return status, err
}

// takeIdle returns the most recently used idle connection, nil if none.
func (l *lean) takeIdle() *leanConn {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(l.idle)
	if n == 0 {
		return nil
	}
	c := l.idle[n-1]
	l.idle[n-1] = nil
	l.idle = l.idle[:n-1]
	return c
}

func (l *lean) putIdle(c *leanConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		c.Close()
		return
	}
	l.idle = append(l.idle, c)
}

// retryIdle is how long a connection must have been idle for a request
// that it sent but got no answer for to be sent again: below the shortest
// keep-alive timeout of common servers (gunicorn's 2 s; uvicorn's and
// Node's 5 s; Go's and nginx's longer), so a connection one of them
// closed as idle qualifies, while one in steady use that fails after the
// request went out (a handler that panicked, a write timeout) does not:
// the server received that request and may have done its work, and
// sending it again would double that work and hide the failure, which
// net/http's client does not do for a POST either.
const retryIdle = time.Second

// roundTrip sends the request on c (dialing when c is nil) and reads the
// answer. It returns the connection to keep, nil when it was closed. A
// reused connection that the server had closed while it was idle fails
// before a byte of the answer arrives; then the request is sent once more
// on a new connection, as net/http does for a connection it finds broken
// (it sees the close while the connection is idle; this client sees it
// only when it uses the connection, so it judges by the idle time).
func (l *lean) roundTrip(ctx context.Context, c *leanConn) (int, *leanConn, error) {
	for attempt := 0; ; attempt++ {
		reused := c != nil
		var idle time.Duration
		if reused {
			idle = time.Since(c.idleSince)
		} else {
			var err error
			if c, err = l.dial(ctx); err != nil {
				return 0, nil, err
			}
		}
		status, keep, sent, answered, err := l.exchange(ctx, c)
		if err == nil {
			if !keep {
				l.drop(c)
				c = nil
			} else {
				c.idleSince = time.Now()
			}
			return status, c, nil
		}
		l.drop(c)
		c = nil
		if ctx.Err() != nil {
			return 0, nil, ctx.Err()
		}
		if !reused || answered || attempt > 0 || (sent && idle < l.retryIdle) {
			return 0, nil, err
		}
	}
}

// inlineWrite is the largest request written before the answer is read:
// one that fits in the sockets' buffers, so that its write returns at
// once whatever the server does. A larger one is written by a goroutine
// while the call reads, so that an answer the server sends before it has
// read the body (mlship's 503 for a body it has no memory for) and the
// close that may follow are seen as net/http's client sees them: the
// answer counted at once, not the write failing when the server closes.
const inlineWrite = 64 << 10

// exchange writes the request and reads one answer. sent reports that
// the whole request was written, answered that a byte of an answer was
// read.
func (l *lean) exchange(ctx context.Context, c *leanConn) (status int, keep, sent, answered bool, err error) {
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { c.SetDeadline(past) })
		defer func() {
			// When stop is too late the deadline is set, or about to
			// be, even if the answer was read: every later call on the
			// connection would fail (or a delayed one fail mid-answer).
			if !stop() {
				keep = false
			}
		}()
	}
	var werr error
	var wrote chan error
	if len(l.wire) <= inlineWrite {
		// On an error, an answer the server sent before it closed may
		// still be there to read.
		_, werr = c.Write(l.wire)
	} else {
		wrote = make(chan error, 1)
		go func() {
			_, err := c.Write(l.wire)
			wrote <- err
		}()
	}
	status, keep, answered, err = readAnswer(c.br)
	if wrote != nil {
		if err != nil || !keep {
			c.Close() // the rest of the request is not wanted: end the write
		}
		werr = <-wrote // so no write is left running on a kept connection
	}
	sent = werr == nil
	switch {
	case err == nil && !sent:
		return status, false, false, true, nil // answered, but out of step
	case err != nil && !answered && !sent:
		return 0, false, false, false, fmt.Errorf("sending the request: %w", werr)
	}
	return status, keep, sent, answered, err
}

// readAnswer reads one answer, its body discarded. answered reports that
// a byte of it arrived; keep that the connection may carry the next
// request.
func readAnswer(br *bufio.Reader) (status int, keep, answered bool, err error) {
	if _, err := br.Peek(1); err != nil {
		return 0, false, false, fmt.Errorf("reading the answer: %w", err)
	}
	resp, err := readFinal(br)
	if err != nil {
		return 0, false, true, fmt.Errorf("reading the answer: %w", err)
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		// The connection no longer speaks HTTP/1.1.
		return resp.StatusCode, false, true, nil
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, false, true, fmt.Errorf("reading the answer: %w", err)
	}
	// Bytes after the answer answer no request: the connection is out
	// of step (net/http's client closes it too when it sees them).
	return resp.StatusCode, !resp.Close && br.Buffered() == 0, true, nil
}

// max1xx bounds the interim answers read before the final one, so a
// server cannot keep a call reading them forever.
const max1xx = 8

// readFinal reads answers until the final one: interim (1xx) answers such
// as 100 Continue or 103 Early Hints precede it on the same request and
// have no body, and net/http's client skips them too. 101 is final.
func readFinal(br *bufio.Reader) (*http.Response, error) {
	for range max1xx {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode < 100 || resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			return resp, nil
		}
	}
	return nil, fmt.Errorf("more than %d interim (1xx) answers", max1xx)
}

var errLeanClosed = errors.New("lean client: closed")

func (l *lean) dial(ctx context.Context) (*leanConn, error) {
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	if closed {
		return nil, errLeanClosed
	}
	d := net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", l.addr)
	if err != nil {
		return nil, err
	}
	c := &leanConn{Conn: nc, br: bufio.NewReaderSize(nc, 16<<10)}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		nc.Close()
		return nil, errLeanClosed
	}
	if l.open == nil {
		l.open = map[*leanConn]struct{}{}
	}
	l.open[c] = struct{}{}
	return c, nil
}

func (l *lean) drop(c *leanConn) {
	c.Close()
	l.mu.Lock()
	delete(l.open, c)
	l.mu.Unlock()
}

// close closes every connection, idle or in use; calls still running
// fail, later ones too.
func (l *lean) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for c := range l.open {
		c.Close()
	}
	l.open, l.idle = nil, nil
}
