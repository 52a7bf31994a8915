package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode"

	"golang.org/x/net/http/httpguts"
)

// connCounter counts the connections a test server accepted.
func connCounter(srv *httptest.Server) *atomic.Int64 {
	var n atomic.Int64
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			n.Add(1)
		}
	}
	return &n
}

func TestLeanCallerSendsTheRequest(t *testing.T) {
	body := `{"inputs": {"x": [[1.5, 2]]}}`
	var bad atomic.Value
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ := io.ReadAll(r.Body)
		switch {
		case r.Method != http.MethodPost || r.URL.RequestURI() != "/invocations?x=1":
			bad.Store(r.Method + " " + r.URL.RequestURI())
		case r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Authorization") != "Bearer s3cret":
			bad.Store("headers " + r.Header.Get("Content-Type") + " " + r.Header.Get("Authorization"))
		case string(got) != body || r.ContentLength != int64(len(body)):
			bad.Store("body " + string(got))
		}
		w.Write([]byte(`{"predictions": [0]}`))
	}))
	conns := connCounter(srv)
	srv.Start()
	defer srv.Close()

	call, closeAll, err := LeanCaller(Request{
		URL: srv.URL + "/invocations?x=1", ContentType: "application/json", Body: []byte(body),
		Header: http.Header{"Authorization": {"Bearer s3cret"}},
	}, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if status, err := call(context.Background()); err != nil || status != 200 {
					failed.Add(1)
					t.Errorf("status %d, error %v", status, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if v := bad.Load(); v != nil {
		t.Fatalf("the server received a different request: %v", v)
	}
	if n := conns.Load(); n > 4 || n < 1 {
		t.Errorf("200 calls from 4 goroutines opened %d connections, want 1 to 4 kept alive", n)
	}
}

// Answers of every shape leave the connection ready for the next request:
// a chunked body, an empty one, an error status; "Connection: close" makes
// the next call dial again.
func TestLeanCallerAnswers(t *testing.T) {
	var step atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		switch step.Add(1) {
		case 1: // chunked, larger than the reader's buffer
			w.Header().Set("Content-Type", "application/json")
			for range 40 {
				w.Write([]byte(strings.Repeat("x", 1000)))
				w.(http.Flusher).Flush()
			}
		case 2:
			w.WriteHeader(http.StatusNoContent)
		case 3:
			w.Header().Set("Retry-After", "1")
			http.Error(w, `{"error_code": "TEMPORARILY_UNAVAILABLE"}`, http.StatusServiceUnavailable)
		case 4:
			w.Header().Set("Connection", "close")
			w.Write([]byte("bye"))
		default:
			w.Write([]byte("ok"))
		}
	}))
	conns := connCounter(srv)
	srv.Start()
	defer srv.Close()
	call, closeAll, err := LeanCaller(Request{URL: srv.URL + "/invocations", ContentType: "text/csv", Body: []byte("a\n1\n")}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll()
	for i, want := range []int{200, 204, 503, 200, 200} {
		status, err := call(context.Background())
		if err != nil || status != want {
			t.Fatalf("call %d: status %d, error %v; want %d", i+1, status, err, want)
		}
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2: one until the answer that closed it, one after", n)
	}
}

// A connection the server closed while it was idle is found broken by the
// next call, which sends the request again on a new one (retryIdle is
// shortened to the test's idle time).
func TestLeanCallerRedialsAfterIdleClose(t *testing.T) {
	var served atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		served.Add(1)
	}))
	conns := connCounter(srv)
	srv.Start()
	defer srv.Close()
	l, err := newLean(Request{URL: srv.URL + "/", ContentType: "text/plain", Body: []byte("x")}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	l.retryIdle = 5 * time.Millisecond
	for i := range 3 {
		if status, err := l.call(context.Background()); err != nil || status != 200 {
			t.Fatalf("call %d: status %d, error %v", i+1, status, err)
		}
		srv.CloseClientConnections()
		time.Sleep(10 * time.Millisecond) // let the close reach the client's socket
	}
	if served.Load() != 3 || conns.Load() != 3 {
		t.Errorf("served %d requests on %d connections, want 3 on 3 (each sent once)", served.Load(), conns.Load())
	}
}

// A call whose context ends while the server has not answered returns at
// once with the context's error, and its connection is not reused.
func TestLeanCallerCancel(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if r.Header.Get("X-Block") == "1" {
			<-release
		}
	}))
	defer srv.Close()
	defer close(release)
	call, closeAll, err := LeanCaller(Request{URL: srv.URL + "/", ContentType: "text/plain", Header: http.Header{"X-Block": {"1"}}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = call(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want the context's deadline", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the cancelled call took %v", d)
	}
	// The slot is free again: a call with a live context gets its turn
	// (and blocks on the server, so it is cancelled the same way).
	ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if _, err := call(ctx2); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second call: error %v, want the context's deadline", err)
	}
}

func TestLeanCallerRefuses(t *testing.T) {
	for _, tc := range []struct {
		url   string
		conns int
		want  string
	}{
		{"https://127.0.0.1:1/", 1, "only http://"},
		{"http://127.0.0.1:1/", 0, "at least one connection"},
		{"http://[::1", 1, "lean client"},
		{"http:///invocations", 1, "no host"},
	} {
		if _, _, err := LeanCaller(Request{URL: tc.url}, tc.conns); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s with %d connections: error %v, want %q", tc.url, tc.conns, err, tc.want)
		}
	}
	// Closed: calls fail instead of dialing.
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	conns := connCounter(srv)
	srv.Start()
	defer srv.Close()
	call, closeAll, err := LeanCaller(Request{URL: srv.URL}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if status, err := call(context.Background()); err != nil || status != 200 {
		t.Fatalf("status %d, error %v", status, err)
	}
	closeAll()
	for range 3 {
		if _, err := call(context.Background()); err == nil {
			t.Fatal("a call after close succeeded")
		}
	}
	time.Sleep(10 * time.Millisecond) // let a connection reach the server
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1: calls after close dialed", n)
	}
}

// Interim answers (1xx) are not the answer: the client reads on to the
// final one, as net/http's does, and the connection stays in step.
func TestLeanCallerSkipsInterimAnswers(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		io.Copy(io.Discard, r.Body) // with Expect: 100-continue, this sends 100 Continue
		if r.URL.Query().Get("fail") == "1" {
			w.WriteHeader(http.StatusTeapot)
		}
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	for _, tc := range []struct {
		query  string
		header http.Header
		want   int
	}{
		{"", nil, 200},
		{"?fail=1", nil, 418},
		{"", http.Header{"Expect": {"100-continue"}}, 200},
	} {
		call, closeAll, err := LeanCaller(Request{URL: srv.URL + "/" + tc.query, ContentType: "text/plain", Body: []byte("x"), Header: tc.header}, 1)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if status, err := call(context.Background()); err != nil || status != tc.want {
				t.Errorf("%q %v call %d: status %d, error %v; want %d", tc.query, tc.header, i+1, status, err, tc.want)
			}
		}
		closeAll()
	}
}

// cancelOnRead cancels a call's context as soon as the first bytes of the
// answer arrive, and holds them until the cancellation has set the
// connection's deadline: the answer is then complete and read, and the
// deadline in the past.
type cancelOnRead struct {
	net.Conn
	cancel       context.CancelFunc
	read, set    sync.Once
	deadlineSet  chan struct{}
	deadlineUsed atomic.Bool
}

func (c *cancelOnRead) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.read.Do(func() {
			c.cancel()
			<-c.deadlineSet
		})
	}
	return n, err
}

func (c *cancelOnRead) SetDeadline(t time.Time) error {
	c.deadlineUsed.Store(true)
	c.set.Do(func() { close(c.deadlineSet) })
	return c.Conn.SetDeadline(t)
}

// A connection whose deadline the context's end has set is not kept for
// the next call, even when the answer was read in full first.
func TestLeanCallerDropsAConnectionWithADeadline(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	l, err := newLean(Request{URL: srv.URL + "/", ContentType: "text/plain", Body: []byte("x")}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	nc, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cr := &cancelOnRead{Conn: nc, cancel: cancel, deadlineSet: make(chan struct{})}
	c := &leanConn{Conn: cr, br: bufio.NewReader(cr)}
	status, keep, _, _, err := l.exchange(ctx, c)
	if !cr.deadlineUsed.Load() {
		t.Fatal("the context's end did not set the deadline")
	}
	if err == nil && keep {
		t.Errorf("status %d: the connection is kept with its deadline in the past", status)
	}
}

// Fewer workers than connection slots use as many connections as they
// need, the most recently used first, as net/http's client does: one
// worker, one connection.
func TestLeanCallerReusesTheLastConnection(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	conns := connCounter(srv)
	srv.Start()
	defer srv.Close()
	call, closeAll, err := LeanCaller(Request{URL: srv.URL + "/", ContentType: "text/plain", Body: []byte("x")}, 8)
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll()
	for i := range 20 {
		if status, err := call(context.Background()); err != nil || status != 200 {
			t.Fatalf("call %d: status %d, error %v", i+1, status, err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("20 calls one after another opened %d connections, want 1", n)
	}
}

// A request the server received and then dropped (closing the connection
// without an answer: a handler that panicked, a write timeout) is a
// failure, not sent again: sending it again would double the work the
// server does for it, which net/http's client does not do for a POST.
func TestLeanCallerDoesNotResendAReceivedRequest(t *testing.T) {
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if served.Add(1) == 2 {
			panic(http.ErrAbortHandler) // closes the connection, no answer
		}
	}))
	defer srv.Close()
	call, closeAll, err := LeanCaller(Request{URL: srv.URL + "/", ContentType: "text/plain", Body: []byte("x")}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll()
	if status, err := call(context.Background()); err != nil || status != 200 {
		t.Fatalf("first call: status %d, error %v", status, err)
	}
	if status, err := call(context.Background()); err == nil {
		t.Errorf("the dropped request: status %d, want an error", status)
	}
	if n := served.Load(); n != 2 {
		t.Errorf("the server received %d requests for 2 calls", n)
	}
}

// A server may answer before it has read the body (mlship refuses a body
// it has no memory for with 503 at once) and then discard the rest or
// close the connection; that answer is what the call reports, at once, as
// net/http's client does, even when the body is too large to be sent
// before the server closes.
func TestLeanCallerEarlyAnswer(t *testing.T) {
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		http.Error(w, "no memory for the body", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	// 200 KiB: the server discards the rest and keeps the connection;
	// 8 MiB: it closes it, half a second after its answer.
	for _, size := range []int{200 << 10, 8 << 20} {
		req := Request{URL: srv.URL + "/", ContentType: "text/plain", Body: make([]byte, size)}
		std := HTTPCaller(NewClient(1), req)
		if status, err := std(context.Background()); err != nil || status != 503 {
			t.Fatalf("%d bytes, net/http: status %d, error %v", size, status, err)
		}
		call, closeAll, err := LeanCaller(req, 1)
		if err != nil {
			t.Fatal(err)
		}
		served.Store(0)
		// Written whole before reading, the 8 MiB request failed with a
		// broken pipe when the server closed; no timing is asserted, so a
		// loaded machine cannot fail this.
		for i := range 3 {
			status, err := call(context.Background())
			if err != nil || status != 503 {
				t.Errorf("%d bytes, call %d: status %d, error %v; want 503", size, i+1, status, err)
			}
		}
		if n := served.Load(); n != 3 {
			t.Errorf("%d bytes: the server received %d requests for 3 calls", size, n)
		}
		closeAll()
	}
}

// The lean client's request is the one net/http's client writes for the
// same Request, as a server parses it: Host (from the URL, without an
// IPv6 zone or an empty port; a Host in the header is not sent), the
// request URI, the header (User-Agent and Transfer-Encoding from it as
// net/http takes them), the body and its length.
func TestLeanCallerRequestAsNetHTTP(t *testing.T) {
	body := []byte(`{"inputs": [1]}`)
	for _, tc := range []struct {
		url    string
		header http.Header
	}{
		{"http://127.0.0.1:5000/invocations", nil},
		{"http://example.com/a%20b/c?x=1&y=%2F#frag", nil},
		{"http://127.0.0.1:/", nil},
		{"http://[::1]/invocations", nil},
		{"http://[fe80::1%25eth0]:8080/invocations", nil},
		{"http://bücher.example:8080/invocations", nil},
		{"http://127.0.0.1:5000", nil},
		{"http://127.0.0.1:5000/", http.Header{"Host": {"elsewhere"}, "X-Api-Key": {"k1", "k2"}}},
		{"http://127.0.0.1:5000/", http.Header{"User-Agent": {"loadtest/1"}, "Content-Length": {"3"}}},
		{"http://127.0.0.1:5000/", http.Header{"Transfer-Encoding": {"chunked"}, "Authorization": {"Bearer t"}}},
	} {
		r := Request{URL: tc.url, ContentType: "application/json", Body: body, Header: tc.header}
		l, err := newLean(r, 1)
		if err != nil {
			t.Errorf("%s: %v", tc.url, err)
			continue
		}
		lean, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(l.wire)))
		if err != nil {
			t.Errorf("%s %v: the lean request does not parse: %v\n%s", tc.url, tc.header, err, l.wire)
			continue
		}
		// What HTTPCaller has net/http write.
		req, err := http.NewRequest(http.MethodPost, r.URL, bytes.NewReader(r.Body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range r.Header {
			req.Header[k] = v
		}
		req.Header.Set("Content-Type", r.ContentType)
		// The lean client's own name where net/http's is Go-http-client.
		if _, ok := r.Header["User-Agent"]; !ok {
			req.Header.Set("User-Agent", "mlship-bench")
		}
		var wire bytes.Buffer
		if err := req.Write(&wire); err != nil {
			t.Fatal(err)
		}
		std, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(wire.Bytes())))
		if err != nil {
			t.Fatal(err)
		}
		leanBody, _ := io.ReadAll(lean.Body)
		stdBody, _ := io.ReadAll(std.Body)
		if lean.Host != std.Host || lean.RequestURI != std.RequestURI || lean.ContentLength != std.ContentLength || !bytes.Equal(leanBody, stdBody) {
			t.Errorf("%s %v: lean sends Host %q, URI %q, length %d, body %q; net/http Host %q, URI %q, length %d, body %q",
				tc.url, tc.header, lean.Host, lean.RequestURI, lean.ContentLength, leanBody, std.Host, std.RequestURI, std.ContentLength, stdBody)
		}
		if !equalHeader(lean.Header, std.Header) {
			t.Errorf("%s %v: lean sends header %v; net/http %v", tc.url, tc.header, lean.Header, std.Header)
		}
	}
}

func equalHeader(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if strings.Join(v, "\x00") != strings.Join(b[k], "\x00") {
			return false
		}
	}
	return true
}

// User info in the URL becomes Basic authorization, as net/http's client
// sends it, unless the header authorizes already.
func TestLeanCallerURLUserInfo(t *testing.T) {
	got := make(chan string, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("Authorization")
	}))
	defer srv.Close()
	for _, tc := range []struct {
		userinfo string
		header   http.Header
	}{
		{"bench:pa%20ss@", nil},
		{"bench:pa%20ss@", http.Header{"Authorization": {"Bearer t"}}},
	} {
		r := Request{URL: strings.Replace(srv.URL, "//", "//"+tc.userinfo, 1) + "/", ContentType: "text/plain", Header: tc.header}
		if _, err := HTTPCaller(NewClient(1), r)(context.Background()); err != nil {
			t.Fatal(err)
		}
		want := <-got
		call, closeAll, err := LeanCaller(r, 1)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := call(context.Background()); err != nil {
			t.Fatal(err)
		}
		closeAll()
		if lean := <-got; lean != want {
			t.Errorf("%s with %v: the lean client sends Authorization %q, net/http %q", r.URL, tc.header, lean, want)
		}
	}
}

// Answers as a server writes them on the wire, one per request in turn:
// each is read to its end and no further, and its status is the call's.
// An answer followed by bytes no request asked for (a Content-Length
// shorter than the body) leaves its connection out of step: it is not
// reused, or every later call would report the answer before its own.
func TestLeanCallerAnswerShapes(t *testing.T) {
	answers := []struct {
		wire  string
		close bool // the server closes after it
		want  int
	}{
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n", false, 200},
		{"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", false, 304},
		{"HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n", false, 204},
		{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 500 Unasked\r\nContent-Length: 0\r\n\r\n", false, 200},
		{"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", false, 201},
		{"HTTP/1.0 202 Accepted\r\nContent-Length: 1\r\n\r\nx", true, 202},
		{"HTTP/1.1 203 Until close\r\n\r\nthe body ends with the connection", true, 203},
		{"HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\n\r\n", false, 429},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	next := 0
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				br := bufio.NewReader(nc)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					mu.Lock()
					a := answers[next%len(answers)]
					next++
					mu.Unlock()
					if _, err := nc.Write([]byte(a.wire)); err != nil || a.close {
						return
					}
				}
			}()
		}
	}()
	call, closeAll, err := LeanCaller(Request{URL: "http://" + ln.Addr().String() + "/", ContentType: "text/plain", Body: []byte("x")}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll()
	for i, a := range answers {
		if status, err := call(context.Background()); err != nil || status != a.want {
			t.Errorf("answer %d: status %d, error %v; want %d", i+1, status, err, a.want)
		}
	}
}

// FuzzLeanRequest checks that what the lean client writes for a URL and a
// header parses as the request net/http writes for them, whenever both
// accept them.
func FuzzLeanRequest(f *testing.F) {
	f.Add("http://127.0.0.1:5000/invocations?x=1", "X-Api-Key", "k")
	f.Add("http://[fe80::1%25eth0]:8080/", "Host", "elsewhere")
	f.Add("http://user:pw@example.com/a%20b", "User-Agent", "")
	f.Add("http://example.com", "Transfer-Encoding", "chunked")
	f.Add("http://bücher.example:8080/", "X-Unicode", "ü")
	f.Add("http://127.0.0.1:5000/", "X-Split", "a\r\nInjected: 1")
	f.Fuzz(func(t *testing.T, rawURL, key, value string) {
		r := Request{URL: rawURL, ContentType: "application/json", Body: []byte("{}"), Header: http.Header{key: {value}}}
		req, err := http.NewRequest(http.MethodPost, r.URL, bytes.NewReader(r.Body))
		if err != nil || req.URL.Scheme != "http" || !dialable(req.URL.Hostname()) {
			return // net/http's Transport refuses these too, or cannot dial them
		}
		for k, v := range r.Header {
			req.Header[k] = v
		}
		req.Header.Set("Content-Type", r.ContentType)
		if _, ok := r.Header["User-Agent"]; !ok {
			req.Header.Set("User-Agent", "mlship-bench")
		}
		if u := req.URL.User; u != nil && req.Header.Get("Authorization") == "" {
			pass, _ := u.Password() // as net/http's Client.send adds it
			req.SetBasicAuth(u.Username(), pass)
		}
		for k, vv := range req.Header { // as net/http's Transport checks them
			for _, v := range vv {
				if !httpguts.ValidHeaderFieldName(k) || !httpguts.ValidHeaderFieldValue(v) {
					if _, err := newLean(r, 1); err == nil {
						t.Fatalf("net/http refuses header %q: %q, the lean client sends it", k, v)
					}
					return
				}
			}
		}
		var wire bytes.Buffer
		if err := req.Write(&wire); err != nil {
			return // net/http refuses it
		}
		std, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(wire.Bytes())))
		if err != nil {
			return
		}
		l, err := newLean(r, 1)
		if err != nil {
			t.Fatalf("net/http sends it, the lean client refuses it: %v", err)
		}
		lean, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(l.wire)))
		if err != nil {
			t.Fatalf("the lean request does not parse: %v\n%q\nnet/http's:\n%q", err, l.wire, wire.Bytes())
		}
		if lean.Host != std.Host || lean.RequestURI != std.RequestURI || lean.ContentLength != std.ContentLength || !equalHeader(lean.Header, std.Header) {
			t.Fatalf("lean sends\n%q\nnet/http\n%q", l.wire, wire.Bytes())
		}
	})
}

// dialable reports that host looks like a name or an address: letters
// (any script), digits, dots, hyphens, and an IPv6 address's colons and
// zone.
func dialable(host string) bool {
	if host == "" {
		return false
	}
	for _, r := range host {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !strings.ContainsRune(".-:%", r) {
			return false
		}
	}
	return true
}
