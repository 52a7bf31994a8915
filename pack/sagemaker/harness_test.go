package sagemaker_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"

	"github.com/mlship/mlship/internal/testenv"
	"github.com/mlship/mlship/mlmodel"
	"github.com/mlship/mlship/pack/sagemaker"
)

// One moto server for the whole test binary, reset before each test.
var moto testenv.MotoOnce

func TestMain(m *testing.M) {
	code := m.Run()
	moto.Close()
	os.Exit(code)
}

const (
	testRegion  = "us-west-2"
	testAccount = "123456789012" // moto's default account
	testKey     = "AKIDMLSHIPTEST"
	testSecret  = "secret"
	testImage   = "123456789012.dkr.ecr.us-west-2.amazonaws.com/mlship:1.0.0"
	testRole    = "arn:aws:iam::123456789012:role/sagemaker-exec"
)

var testCreds = credentials.NewStaticCredentialsProvider(testKey, testSecret, "")

// env is one test's AWS: moto behind a recording proxy that can stand in
// for the operations moto lacks (UpdateEndpoint, StopTransformJob).
type env struct {
	t     *testing.T
	moto  string
	proxy *awsProxy
	// Direct clients of moto for setting up and checking state; their
	// calls are not recorded.
	sm  *sm.Client
	s3  *s3.Client
	iam *iam.Client
}

func newEnv(t *testing.T) *env {
	t.Helper()
	srv := moto.Server(t)
	target, _ := url.Parse(srv.URL)
	p := &awsProxy{t: t, target: target, rp: httputil.NewSingleHostReverseProxy(target)}
	hs := httptest.NewServer(p)
	t.Cleanup(hs.Close)
	p.url = hs.URL
	cfg, err := config.LoadDefaultConfig(t.Context(), config.WithRegion(testRegion),
		config.WithCredentialsProvider(testCreds), config.WithBaseEndpoint(srv.URL),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired))
	if err != nil {
		t.Fatal(err)
	}
	return &env{
		t: t, moto: srv.URL, proxy: p,
		sm:  sm.NewFromConfig(cfg),
		s3:  s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }),
		iam: iam.NewFromConfig(cfg),
	}
}

// client is a sagemaker.Client whose every call goes through the proxy,
// with fast polling.
func (e *env) client(opts sagemaker.Options) *sagemaker.Client {
	e.t.Helper()
	opts.EndpointURL = e.proxy.url
	if opts.Credentials == nil {
		opts.Credentials = testCreds
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = 10 * time.Millisecond
	}
	if opts.UpdateGrace == 0 {
		opts.UpdateGrace = -1
	}
	if opts.ImageTag == "" {
		opts.ImageTag = "1.0.0"
	}
	opts.Logger = testLogger(e.t)
	c, err := sagemaker.New(e.t.Context(), opts)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// awsProxy forwards requests to moto, recording each operation as
// "service:Operation" (and the access key that signed it), except the
// operations a test handles itself.
type awsProxy struct {
	t      *testing.T
	target *url.URL
	rp     *httputil.ReverseProxy
	url    string

	mu       sync.Mutex
	ops      []string
	keys     map[string]string // operation -> access key of its last call
	handlers map[string]http.HandlerFunc
	// rewrite edits moto's JSON answer to an operation.
	rewrites map[string]func(map[string]any)
}

func (p *awsProxy) handle(op string, h http.HandlerFunc) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.handlers == nil {
		p.handlers = map[string]http.HandlerFunc{}
	}
	p.handlers[op] = h
}

func (p *awsProxy) rewrite(op string, f func(map[string]any)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rewrites == nil {
		p.rewrites = map[string]func(map[string]any){}
	}
	p.rewrites[op] = f
}

// calls returns the recorded operations and forgets them.
func (p *awsProxy) calls() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	ops := p.ops
	p.ops = nil
	return ops
}

func (p *awsProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	op := operation(r, body)
	p.mu.Lock()
	p.ops = append(p.ops, op)
	if p.keys == nil {
		p.keys = map[string]string{}
	}
	p.keys[op] = accessKey(r)
	h, rw := p.handlers[op], p.rewrites[op]
	p.mu.Unlock()
	switch {
	case h != nil:
		h(w, r)
	case rw != nil:
		rec := httptest.NewRecorder()
		p.rp.ServeHTTP(rec, r)
		var doc map[string]any
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &doc) != nil {
			p.t.Errorf("%s: moto answered %d %s", op, rec.Code, rec.Body.String())
			w.WriteHeader(rec.Code)
			return
		}
		rw(doc)
		writeJSON(w, doc)
	default:
		p.rp.ServeHTTP(w, r)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(v)
}

// operation names a request: JSON protocols by X-Amz-Target, query
// protocols by Action, S3 by method, path and query.
func operation(r *http.Request, body []byte) string {
	svc := credentialScope(r, 3)
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		_, op, _ := strings.Cut(target, ".")
		return svc + ":" + op
	}
	if svc != "s3" {
		form, _ := url.ParseQuery(string(body))
		return svc + ":" + form.Get("Action")
	}
	q := r.URL.Query()
	path := strings.Trim(r.URL.Path, "/")
	object := strings.Contains(path, "/")
	switch {
	case r.Method == http.MethodGet && path == "":
		return "s3:ListBuckets"
	case r.Method == http.MethodPut && !object:
		return "s3:CreateBucket"
	case r.Method == http.MethodPut && q.Has("tagging"):
		return "s3:PutObjectTagging"
	case r.Method == http.MethodPut && q.Has("partNumber"):
		return "s3:UploadPart"
	case r.Method == http.MethodPut:
		return "s3:PutObject"
	case r.Method == http.MethodPost && q.Has("uploads"):
		return "s3:CreateMultipartUpload"
	case r.Method == http.MethodPost && q.Has("uploadId"):
		return "s3:CompleteMultipartUpload"
	case r.Method == http.MethodDelete && q.Has("uploadId"):
		return "s3:AbortMultipartUpload"
	case r.Method == http.MethodDelete:
		return "s3:DeleteObject"
	}
	return "s3:" + r.Method + " " + r.URL.RequestURI()
}

// credentialScope returns part i of the SigV4 credential,
// KEY/DATE/REGION/SERVICE/aws4_request.
func credentialScope(r *http.Request, i int) string {
	auth := r.Header.Get("Authorization")
	_, cred, ok := strings.Cut(auth, "Credential=")
	if !ok {
		return "unsigned"
	}
	cred, _, _ = strings.Cut(cred, ",")
	parts := strings.Split(cred, "/")
	if len(parts) <= i {
		return "?"
	}
	return parts[i]
}

func accessKey(r *http.Request) string { return credentialScope(r, 0) }

// checkSignature re-signs the request with creds at its X-Amz-Date and
// compares the Authorization header, as SageMaker would.
func checkSignature(t *testing.T, r *http.Request, body []byte, creds aws.Credentials, service string) {
	t.Helper()
	when, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		t.Errorf("X-Amz-Date: %v", err)
		return
	}
	// Re-sign a copy holding only the headers the client signed (its
	// transport adds others, such as Accept-Encoding, afterwards).
	auth := r.Header.Get("Authorization")
	_, signed, _ := strings.Cut(auth, "SignedHeaders=")
	signed, _, _ = strings.Cut(signed, ",")
	clone := r.Clone(context.Background())
	clone.Header = http.Header{}
	for _, h := range strings.Split(signed, ";") {
		if h != "host" && h != "content-length" {
			clone.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	clone.URL.Scheme, clone.URL.Host = "http", r.Host
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, clone, hex.EncodeToString(sum[:]), service, testRegion, when); err != nil {
		t.Fatal(err)
	}
	if got, want := auth, clone.Header.Get("Authorization"); got != want {
		t.Errorf("signature:\n got %s\nwant %s", got, want)
	}
}

// writeModel makes a small model directory: an MLmodel with
// python_function and sklearn flavors, a nested directory, an executable
// file and a symbolic link.
func writeModel(t *testing.T) *mlmodel.Model {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "model")
	files := map[string]string{
		"MLmodel": "flavors:\n  python_function:\n    loader_module: mlflow.sklearn\n    model_path: model.pkl\n" +
			"    python_version: 3.11.7\n  sklearn:\n    pickled_model: model.pkl\n" +
			"model_uuid: 0123456789abcdef0123456789abcdef\nrun_id: run123\n",
		"model.pkl":                strings.Repeat("\x80\x04weights", 100),
		"requirements.txt":         "scikit-learn==1.2.1\n",
		"code/helpers/util.py":     "def f():\n    return 1\n",
		"code/helpers/__init__.py": "",
		"bin/start.sh":             "#!/bin/sh\nexit 0\n",
	}
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := fs.FileMode(0o644)
		if strings.HasSuffix(name, ".sh") {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("requirements.txt", filepath.Join(dir, "reqs.txt")); err != nil {
		t.Fatal(err)
	}
	m, err := mlmodel.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// tarEntry is a file of a model tarball or directory.
type tarEntry struct {
	Mode int64
	Link string
	Data string
}

// readTarball lists a model.tar.gz.
func readTarball(t *testing.T, data []byte) map[string]tarEntry {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	got := map[string]tarEntry{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		got[hdr.Name] = tarEntry{Mode: hdr.Mode, Link: hdr.Linkname, Data: string(b)}
	}
	return got
}

// dirEntries lists a directory as readTarball lists its tarball: the
// modes WriteModelTarball promises (0755 directories and executables, 0644
// other files, links as links).
func dirEntries(t *testing.T, dir string) map[string]tarEntry {
	t.Helper()
	want := map[string]tarEntry{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case info.IsDir():
			want[rel+"/"] = tarEntry{Mode: 0o755}
		case info.Mode()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			want[rel] = tarEntry{Mode: 0o777, Link: link}
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			mode := int64(0o644)
			if info.Mode()&0o111 != 0 {
				mode = 0o755
			}
			want[rel] = tarEntry{Mode: mode, Data: string(data)}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return want
}

func writeFile(t *testing.T, dir, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
}
