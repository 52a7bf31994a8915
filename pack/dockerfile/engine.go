package dockerfile

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultHost is the Docker Engine's default socket.
const DefaultHost = "unix:///var/run/docker.sock"

// BuildOptions say where the engine is and how to build. The zero value
// builds with the engine on DefaultHost.
type BuildOptions struct {
	// Host is the engine's address as DOCKER_HOST spells it:
	// unix:///path/to/socket or tcp://host:port ("" means DefaultHost).
	Host string
	// TLS, when set, is used for tcp:// hosts (DOCKER_TLS_VERIFY setups).
	TLS *tls.Config
	// Dockerfile is the Dockerfile's path inside the context ("Dockerfile").
	Dockerfile string
	// NetworkMode is the network RUN steps get ("" for the engine's default;
	// "host" or "none").
	NetworkMode string
	// Platform is the target platform, e.g. "linux/amd64" ("" for the
	// engine's).
	Platform string
	// NoCache builds without the engine's layer cache; Pull always pulls
	// the base image.
	NoCache, Pull bool
	// Progress receives the build's output lines (nil discards them).
	Progress io.Writer
	// Logger logs requests at debug level (nil discards).
	Logger *slog.Logger
}

// EngineUnavailableError is a Docker Engine that cannot be reached.
type EngineUnavailableError struct {
	Host string
	Err  error
}

func (e *EngineUnavailableError) Error() string {
	return fmt.Sprintf("no Docker Engine answers at %s (%v): start one or point DOCKER_HOST at it, "+
		"or build without a daemon with `mlship build-docker`", e.Host, e.Err)
}

func (e *EngineUnavailableError) Unwrap() error { return e.Err }

// BuildError is a build the engine ran and that failed.
type BuildError struct {
	Message string
}

func (e *BuildError) Error() string { return "docker build: " + e.Message }

// Build sends contextDir to the Docker Engine, builds it with the legacy
// builder and tags the image tag (a reference such as "iris:1"; "" for an
// untagged image). It returns the image ID ("sha256:..."). The context is
// sent as a deterministic tar (see Tar); .dockerignore files are not read.
func Build(ctx context.Context, contextDir, tag string, o BuildOptions) (string, error) {
	c, err := newEngine(o.Host, o.TLS)
	if err != nil {
		return "", err
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := c.ping(ctx); err != nil {
		return "", err
	}
	q := url.Values{}
	if tag != "" {
		q.Set("t", tag)
	}
	df := o.Dockerfile
	if df == "" {
		df = "Dockerfile"
	}
	q.Set("dockerfile", df)
	q.Set("rm", "1")
	q.Set("forcerm", "1")
	if o.NetworkMode != "" {
		q.Set("networkmode", o.NetworkMode)
	}
	if o.Platform != "" {
		q.Set("platform", o.Platform)
	}
	if o.NoCache {
		q.Set("nocache", "1")
	}
	if o.Pull {
		q.Set("pull", "1")
	}

	// The context streams as it is read: no temporary tar file.
	pr, pw := io.Pipe()
	tarErr := make(chan error, 1)
	go func() {
		err := Tar(pw, contextDir)
		pw.CloseWithError(err)
		tarErr <- err
	}()
	id, err := c.build(ctx, q, pr, o.Progress, log)
	pr.Close() // stops the writer if the engine stopped reading
	if terr := <-tarErr; terr != nil && !errors.Is(terr, io.ErrClosedPipe) {
		return "", fmt.Errorf("docker build: sending the context %s: %w", contextDir, terr)
	}
	return id, err
}

func (e *engine) build(ctx context.Context, q url.Values, body io.Reader, progress io.Writer, log *slog.Logger) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.base+"/build?"+q.Encode(), body)
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-tar")
	log.Debug("docker build", "host", e.host, "query", q.Encode())
	resp, err := e.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("docker build: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", apiError("docker build", resp)
	}
	return readBuildStream(resp.Body, progress)
}

// buildMessage is one JSON object of the /build response stream.
type buildMessage struct {
	Stream      string                    `json:"stream"`
	Status      string                    `json:"status"`
	Progress    string                    `json:"progress"`
	ID          string                    `json:"id"`
	Error       string                    `json:"error"`
	ErrorDetail *struct{ Message string } `json:"errorDetail"`
	Aux         json.RawMessage           `json:"aux"`
}

// readBuildStream relays the build output and returns the image ID from
// the aux message (or the legacy "Successfully built" line).
func readBuildStream(r io.Reader, progress io.Writer) (string, error) {
	if progress == nil {
		progress = io.Discard
	}
	dec := json.NewDecoder(bufio.NewReader(r))
	var id, legacyID string
	for {
		var m buildMessage
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return "", fmt.Errorf("docker build: reading the engine's output: %w", err)
		}
		if m.Error != "" || m.ErrorDetail != nil {
			msg := m.Error
			if msg == "" {
				msg = m.ErrorDetail.Message
			}
			return "", &BuildError{Message: strings.TrimSpace(msg)}
		}
		if len(m.Aux) > 0 {
			var aux struct{ ID string }
			if json.Unmarshal(m.Aux, &aux) == nil && aux.ID != "" {
				id = aux.ID
			}
		}
		switch {
		case m.Stream != "":
			io.WriteString(progress, m.Stream)
			if rest, ok := strings.CutPrefix(strings.TrimSpace(m.Stream), "Successfully built "); ok {
				legacyID = rest
			}
		case m.Status != "":
			line := m.Status
			if m.ID != "" {
				line = m.ID + ": " + line
			}
			if m.Progress != "" {
				line += " " + m.Progress
			}
			io.WriteString(progress, line+"\n")
		}
	}
	if id == "" {
		id = legacyID
	}
	if id == "" {
		return "", errors.New("docker build: the engine reported no image ID")
	}
	return id, nil
}

// engine is a minimal Docker Engine API client.
type engine struct {
	host string // as given
	base string // URL prefix of API paths
	http *http.Client
}

func newEngine(host string, tlsConf *tls.Config) (*engine, error) {
	if host == "" {
		host = DefaultHost
	}
	u, err := url.Parse(host)
	if err != nil {
		return nil, fmt.Errorf("docker host %q: %w", host, err)
	}
	tr := &http.Transport{
		Proxy:                 nil, // the engine is local or addressed directly
		ResponseHeaderTimeout: 0,   // builds stream for as long as they take
		IdleConnTimeout:       30 * time.Second,
	}
	e := &engine{host: host, http: &http.Client{Transport: tr}}
	switch u.Scheme {
	case "unix":
		sock := u.Path
		if sock == "" {
			return nil, fmt.Errorf("docker host %q: no socket path", host)
		}
		var d net.Dialer
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", sock)
		}
		e.base = "http://docker"
	case "tcp", "http", "https":
		if u.Host == "" {
			return nil, fmt.Errorf("docker host %q: no address", host)
		}
		scheme := "http"
		if tlsConf != nil || u.Scheme == "https" {
			scheme = "https"
			tr.TLSClientConfig = tlsConf
		}
		e.base = scheme + "://" + u.Host
	default:
		return nil, fmt.Errorf("docker host %q: want unix:///path or tcp://host:port", host)
	}
	return e, nil
}

// ping checks that an engine answers, so that a missing daemon is one clear
// error rather than a failed upload.
func (e *engine) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.base+"/_ping", nil)
	if err != nil {
		return err
	}
	resp, err := e.http.Do(req)
	if err != nil {
		return &EngineUnavailableError{Host: e.host, Err: err}
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<10))
	if resp.StatusCode != http.StatusOK {
		return &EngineUnavailableError{Host: e.host, Err: fmt.Errorf("GET /_ping: %s", resp.Status)}
	}
	return nil
}

// apiError reads the engine's {"message": ...} error body.
func apiError(what string, resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var m struct{ Message string }
	if json.Unmarshal(body, &m) == nil && m.Message != "" {
		return fmt.Errorf("%s: %s: %s", what, resp.Status, m.Message)
	}
	return fmt.Errorf("%s: %s: %s", what, resp.Status, strings.TrimSpace(string(body)))
}
