package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mlship/mlship/tracking/artifacts"
	"github.com/mlship/mlship/tracking/client"
	"github.com/mlship/mlship/tracking/server"
	"github.com/mlship/mlship/tracking/sqlstore"
)

// A tracking URI that names a store rather than a server
// (sqlite:///mlflow.db, postgresql://...) works as it does with MLflow's
// client: the commands open the store themselves. They do it by running
// the tracking server's handler in-process, behind the client, through a
// transport that calls the handler directly: no port is opened, and the
// same code answers as a remote `mlship server` would.

// trackingConn is a client, and for a local store the store it owns.
type trackingConn struct {
	*client.Client
	closeStore func() error
}

func (t *trackingConn) Close() error {
	err := t.Client.Close()
	if t.closeStore != nil {
		if cerr := t.closeStore(); err == nil {
			err = cerr
		}
	}
	return err
}

// isServerURI reports whether uri names a tracking server.
func isServerURI(uri string) bool {
	return strings.HasPrefix(uri, "http://") || strings.HasPrefix(uri, "https://")
}

// localTracking opens the store at uri and returns a client of a
// tracking server over it, in-process. New experiments keep artifacts
// under ./mlruns (MLflow's default for a local store), which the client
// reads and writes directly.
func (d *deps) localTracking(ctx context.Context, uri string) (*trackingConn, error) {
	if strings.HasPrefix(uri, "file:") || !strings.Contains(uri, "://") {
		return nil, fmt.Errorf("tracking URI %q: want http(s)://host:port of a tracking server, or a store: sqlite:///path.db or postgresql://... (an MLflow ./mlruns file store can be imported with `mlship import-mlruns`)", uri)
	}
	log := d.logger()
	store, err := sqlstore.Open(ctx, uri, sqlstore.Options{DefaultArtifactRoot: "./mlruns", Logger: log})
	if err != nil {
		return nil, fmt.Errorf("tracking URI %q: %w", uri, err)
	}
	awsConfig := artifacts.LoadAWSConfig(d.env.get("MLFLOW_S3_ENDPOINT_URL"))
	// Runs a `mlship server` created in the same store may have
	// mlflow-artifacts:/ roots: proxy them to the destination that server
	// uses by default (run from the same directory), or
	// MLFLOW_ARTIFACTS_DESTINATION.
	destURI := d.env.get("MLFLOW_ARTIFACTS_DESTINATION")
	if destURI == "" {
		destURI = "./mlartifacts"
	}
	dest, err := artifacts.Open(ctx, destURI, artifacts.Options{AWSConfig: awsConfig})
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("artifacts destination %s: %w", destURI, err)
	}
	srv, err := server.New(store, server.Options{
		ServeArtifacts:       true,
		ArtifactsDestination: dest,
		OpenArtifacts: func(ctx context.Context, uri string) (artifacts.Repository, error) {
			return artifacts.Open(ctx, uri, artifacts.Options{AWSConfig: awsConfig, ProxyRoot: dest})
		},
		Version:  Version(),
		Registry: prometheus.NewRegistry(),
		Logger:   log,
	})
	if err != nil {
		store.Close()
		return nil, err
	}
	c, err := client.New("http://local-store", client.WithEnv(d.env.get), client.WithLogger(log),
		client.WithHTTPClient(&http.Client{Transport: handlerTransport{srv.Handler()}}))
	if err != nil {
		store.Close()
		return nil, err
	}
	return &trackingConn{Client: c, closeStore: store.Close}, nil
}

// handlerTransport answers requests by calling a handler in this process.
// The response streams: the body is a pipe the handler writes into, so a
// large artifact is never held in memory whole.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	in := req.Clone(req.Context())
	in.RequestURI = req.URL.RequestURI()
	in.RemoteAddr = "127.0.0.1:0"
	if in.Body == nil {
		in.Body = http.NoBody
	}
	pr, pw := io.Pipe()
	w := &pipeResponse{header: http.Header{}, body: pw, ready: make(chan struct{})}
	go func() {
		defer func() {
			w.WriteHeader(http.StatusOK) // a handler that wrote nothing
			pw.Close()
		}()
		t.h.ServeHTTP(w, in)
	}()
	select {
	case <-w.ready:
	case <-req.Context().Done():
		pr.CloseWithError(req.Context().Err())
		return nil, req.Context().Err()
	}
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", w.status, http.StatusText(w.status)),
		StatusCode:    w.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        w.sent,
		Body:          pr,
		ContentLength: -1,
		Request:       req,
	}, nil
}

// pipeResponse is the handler's side of handlerTransport.
type pipeResponse struct {
	header http.Header
	sent   http.Header // the header as it was when the status was written
	status int
	once   sync.Once
	ready  chan struct{}
	body   *io.PipeWriter
}

func (w *pipeResponse) Header() http.Header { return w.header }

func (w *pipeResponse) WriteHeader(code int) {
	if code >= 100 && code < 200 {
		return // informational: the final status comes later
	}
	w.once.Do(func() {
		w.status, w.sent = code, w.header.Clone()
		close(w.ready)
	})
}

func (w *pipeResponse) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(p)
}

// Flush is a no-op: every Write reaches the reader at once.
func (w *pipeResponse) Flush() {}
