// Package ui is the tracking server's web UI: server-rendered pages over a
// tracking.Store for browsing experiments, runs, their params, metrics,
// tags, artifacts and logged models, and line charts comparing metrics
// across runs.
//
// Pages are html/template (so every value from the store is escaped for its
// context) with one stylesheet and a few lines of script embedded in the
// binary; nothing is loaded from elsewhere. Charts are laid out in Go and
// drawn as inline SVG (chart.go). The handler is plain net/http, so the REST
// server can mount it at "/" beside its API.
//
// Routes, relative to Options.BasePath:
//
//	/                           experiments
//	/experiments/{id}           runs table: columns, sorting, filter, paging
//	/runs/{id}                  one run; ?dir= and ?file= browse its artifacts
//	/compare?runs=a,b&metric=m  metric histories of runs, charted by step or time
//	/ui/artifacts/{run}/raw?path=  an artifact's bytes (image previews, downloads)
//	/static/...                 the stylesheet and script
package ui

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/mlship/mlship/tracking"
	"github.com/mlship/mlship/tracking/artifacts"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configures the UI. The zero value serves pages at "/" without an
// artifact browser.
type Options struct {
	// Artifacts resolves a run's artifact root (run.Info.ArtifactURI) to a
	// repository. Nil disables the artifact browser and model detection.
	Artifacts func(ctx context.Context, run *tracking.Run) (artifacts.Repository, error)
	// BasePath is the path the handler is mounted under ("" or "/" for the
	// root, else e.g. "/mlflow"). Links carry it, and requests must.
	BasePath string
	// Logger receives store and rendering errors; nil discards them.
	Logger *slog.Logger
}

type handler struct {
	store tracking.Store
	opts  Options
	base  string // normalised BasePath: "" or "/x" without a trailing slash
	log   *slog.Logger
	pages map[string]*template.Template
	mux   *http.ServeMux
}

// New returns the UI as an http.Handler over store.
func New(store tracking.Store, opts Options) http.Handler {
	h := &handler{store: store, opts: opts, log: opts.Logger}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if b := strings.Trim(opts.BasePath, "/"); b != "" {
		h.base = "/" + b
	}
	h.pages = parsePages()
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.experiments)
	mux.HandleFunc("GET /experiments/{id}", h.experiment)
	mux.HandleFunc("GET /runs/{id}", h.run)
	mux.HandleFunc("GET /compare", h.compare)
	mux.HandleFunc("GET /ui/artifacts/{run}/raw", h.raw)
	mux.Handle("GET /static/", http.StripPrefix("/static/", staticHandler(static)))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, tracking.Errorf(tracking.ResourceDoesNotExist, "No page at %s", r.URL.Path))
	})
	h.mux = mux
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.base == "" {
		h.mux.ServeHTTP(w, r)
		return
	}
	p := r.URL.Path
	switch {
	case p == h.base:
		http.Redirect(w, r, h.base+"/", http.StatusMovedPermanently)
	case strings.HasPrefix(p, h.base+"/"):
		r2 := r.Clone(r.Context())
		r2.URL.Path = strings.TrimPrefix(p, h.base)
		r2.URL.RawPath = ""
		h.mux.ServeHTTP(w, r2)
	default:
		http.NotFound(w, r)
	}
}

// staticHandler serves the embedded assets with headers that keep browsers
// from guessing their types.
func staticHandler(static fs.FS) http.Handler {
	files := http.FileServerFS(static)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "public, max-age=300")
		files.ServeHTTP(w, r)
	})
}

// link builds a URL to a UI page: p is a path below the base ("/runs/x"),
// whose variable parts the caller escaped with url.PathEscape.
func (h *handler) link(p string, q url.Values) string {
	u := h.base + p
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

func (h *handler) runLink(id string) string { return h.link("/runs/"+url.PathEscape(id), nil) }
func (h *handler) expLink(id string) string {
	return h.link("/experiments/"+url.PathEscape(id), nil)
}

// rawLink is the download route for one artifact of a run.
func (h *handler) rawLink(runID, p string, download bool) string {
	q := url.Values{"path": {p}}
	if download {
		q.Set("download", "1")
	}
	return h.link("/ui/artifacts/"+url.PathEscape(runID)+"/raw", q)
}

// pageHeaders are set on every HTML page: the content security policy
// allows only this server's own stylesheet, script and images, so even a
// value that slipped past escaping could not run script or load anything.
func pageHeaders(w http.ResponseWriter) {
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Security-Policy", "default-src 'none'; img-src 'self'; style-src 'self'; script-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("Cache-Control", "no-store")
}

// layout is what every page template gets besides its own data.
type layout struct {
	Title  string
	Base   string // link prefix
	Crumbs []crumb
	Page   any
}

type crumb struct {
	Label string
	URL   string
}

// render executes page into a buffer first, so a template error becomes a
// clean 500 and never half a page.
func (h *handler) render(w http.ResponseWriter, r *http.Request, status int, page string, l layout) {
	t := h.pages[page]
	l.Base = h.base
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", l); err != nil {
		h.log.ErrorContext(r.Context(), "ui: rendering page", "page", page, "err", err)
		pageHeaders(w)
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("<!doctype html><title>Error</title><p>Internal error rendering this page.</p>"))
		return
	}
	pageHeaders(w)
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// statusOf maps a store error to an HTTP status, as the REST API does.
func statusOf(err error) int {
	switch tracking.CodeOf(err) {
	case tracking.InvalidParameterValue:
		return http.StatusBadRequest
	case tracking.ResourceDoesNotExist:
		return http.StatusNotFound
	case tracking.ResourceAlreadyExists, tracking.InvalidState:
		return http.StatusConflict
	case tracking.TemporarilyUnavailable:
		return http.StatusServiceUnavailable
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// userMessage is what a page may say about err: the message of a tracking
// error (written for clients, e.g. a filter's syntax error), else a generic
// line; internal details go to the log only.
func userMessage(err error) string {
	var te *tracking.Error
	if errors.As(err, &te) && te.Code != tracking.InternalError {
		return te.Message
	}
	return "Internal error; the server log has the details."
}

type errorPage struct {
	Status  int
	Message string
}

// fail renders an error page for err.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := statusOf(err)
	if status >= 500 {
		h.log.ErrorContext(r.Context(), "ui: request failed", "path", r.URL.Path, "err", err)
	}
	h.render(w, r, status, "error", layout{
		Title: http.StatusText(status),
		Page:  errorPage{Status: status, Message: userMessage(err)},
	})
}

var funcs = template.FuncMap{
	"base": path.Base,
}

// parsePages parses each page template together with the shared layout.
func parsePages() map[string]*template.Template {
	common := template.Must(template.New("").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/chart.html"))
	pages := map[string]*template.Template{}
	for _, name := range []string{"experiments", "experiment", "run", "compare", "error"} {
		t := template.Must(common.Clone())
		pages[name] = template.Must(t.ParseFS(templateFS, "templates/"+name+".html"))
	}
	return pages
}
