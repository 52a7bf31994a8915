package server_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/mlship/mlship/internal/testenv"
	"github.com/mlship/mlship/tracking/server"
	"github.com/mlship/mlship/tracking/sqlstore"
)

// htpasswd writes an htpasswd file with bcrypt entries as `htpasswd -B`
// writes them ($2y$).
func htpasswd(t *testing.T, users map[string]string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("# users\n\n")
	for u, p := range users {
		h, err := bcrypt.GenerateFromPassword([]byte(p), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(u + ":$2y$" + strings.TrimPrefix(string(h), "$2a$") + "\n")
	}
	path := filepath.Join(t.TempDir(), "htpasswd")
	writeFile(t, path, b.String())
	return path
}

func TestBasicAuth(t *testing.T) {
	file := htpasswd(t, map[string]string{"alice": "s3cret", "bob": "hunter2"})
	e := newEnv(t, func(o *server.Options) { o.AuthHTPasswd = file })

	const refusal = "You are not authenticated. Please see https://www.mlflow.org/docs/latest/auth/index.html#authenticating-to-mlflow on how to authenticate."
	for _, creds := range [][2]string{{"", ""}, {"alice", "wrong"}, {"carol", "s3cret"}, {"bob", "s3cret"}} {
		e.user, e.pass = creds[0], creds[1]
		for _, path := range []string{"/api/2.0/mlflow/experiments/get?experiment_id=0", "/version", "/metrics", "/api/2.0/mlflow-artifacts/artifacts?path=", "/nothing"} {
			r := e.get(path)
			if r.status != 401 || string(r.body) != refusal || r.header.Get("WWW-Authenticate") != `Basic realm="mlflow"` {
				t.Errorf("%v %s: %d %q %q", creds, path, r.status, r.body, r.header.Get("WWW-Authenticate"))
			}
		}
		if r := e.post("/api/2.0/mlflow/experiments/create", `{"name": "sneaky"}`); r.status != 401 {
			t.Errorf("%v create: %d", creds, r.status)
		}
	}
	// /health stays open for probes.
	e.user = ""
	if r := e.get("/health"); r.status != 200 || string(r.body) != "OK" {
		t.Fatalf("/health without credentials: %d %q", r.status, r.body)
	}
	for _, creds := range [][2]string{{"alice", "s3cret"}, {"bob", "hunter2"}, {"alice", "s3cret"}} {
		e.user, e.pass = creds[0], creds[1]
		e.ok(e.get("/api/2.0/mlflow/experiments/get-by-name?experiment_name=Default"), `{"experiment": "<any>"}`)
	}
	e.ok(e.post("/api/2.0/mlflow/experiments/create", `{"name": "allowed"}`), `{"experiment_id": "<any>"}`)
	// A password that verified once is remembered; a wrong one for the same
	// user is still refused.
	e.user, e.pass = "alice", "s3cret!"
	if r := e.get("/version"); r.status != 401 {
		t.Fatalf("wrong password after a right one: %d", r.status)
	}
}

func TestHTPasswdRefused(t *testing.T) {
	store, err := sqlstore.Open(context.Background(), "sqlite:///"+filepath.Join(t.TempDir(), "m.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for _, tc := range []struct{ name, content, want string }{
		{"apr1", "alice:$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/\n", `user "alice": unsupported password hash`},
		{"sha1", "bob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n", `user "bob": unsupported password hash`},
		{"plain", "carol:password\n", `user "carol": unsupported password hash`},
		{"crypt", "dave:rqXexS6ZhobKA\n", `user "dave": unsupported password hash`},
		{"broken bcrypt", "erin:$2y$10$short\n", `user "erin": malformed bcrypt hash`},
		{"no colon", "frank\n", "line 1: want user:hash"},
		{"empty", "# nobody\n", "has no users"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "htpasswd")
			writeFile(t, path, tc.content)
			_, err := server.New(store, server.Options{AuthHTPasswd: path})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if _, err := server.New(store, server.Options{AuthHTPasswd: filepath.Join(t.TempDir(), "missing")}); err == nil || !os.IsNotExist(unwrapAll(err)) {
		t.Fatalf("missing htpasswd file: %v", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

func TestMetrics(t *testing.T) {
	e := newEnv(t, nil)
	e.get("/api/2.0/mlflow/experiments/get?experiment_id=0")
	e.get("/ajax-api/2.0/mlflow/experiments/get?experiment_id=0")
	e.get("/api/2.0/mlflow/experiments/get?experiment_id=77")
	e.get("/api/2.0/mlflow/no-such-thing")
	r := e.get("/metrics")
	for _, want := range []string{
		`mlship_tracking_requests_total{code="200",endpoint="/api/2.0/mlflow/experiments/get",method="GET"} 2`,
		`mlship_tracking_requests_total{code="404",endpoint="/api/2.0/mlflow/experiments/get",method="GET"} 1`,
		`mlship_tracking_requests_total{code="404",endpoint="unmatched",method="GET"} 1`,
		`mlship_tracking_request_duration_seconds_count{endpoint="/api/2.0/mlflow/experiments/get",method="GET"} 3`,
	} {
		if !bytes.Contains(r.body, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestUploadStreams uploads 96 MiB through the proxy and checks the
// server never held it: the process allocates far less than the body.
func TestUploadStreams(t *testing.T) {
	e := newEnv(t, nil)
	const size = 96 << 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	req, err := http.NewRequest("PUT", e.url+"/api/2.0/mlflow-artifacts/artifacts/big/blob.bin", io.LimitReader(zeros{}, size))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	runtime.ReadMemStats(&after)
	if resp.StatusCode != 200 {
		t.Fatalf("upload: %d", resp.StatusCode)
	}
	if fi, err := os.Stat(filepath.Join(e.dest, "big/blob.bin")); err != nil || fi.Size() != size {
		t.Fatalf("stored upload: %v, %v", fi, err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > size/4 {
		t.Fatalf("uploading %d bytes allocated %d: the body was buffered", size, alloc)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestAccessLog(t *testing.T) {
	var buf testenv.SyncBuffer
	e := newEnv(t, func(o *server.Options) {
		o.AccessLog = true
		o.Logger = slog.New(slog.NewTextHandler(&buf, nil))
	})
	e.get("/api/2.0/mlflow/runs/get?run_id=nope")
	if out := buf.String(); !strings.Contains(out, "msg=request method=GET path=/api/2.0/mlflow/runs/get status=404") {
		t.Fatalf("access log: %s", out)
	}
}
