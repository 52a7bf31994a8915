package ui

import (
	"bytes"
	"context"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"unicode/utf8"

	"github.com/mlship/mlship/tracking"
	"github.com/mlship/mlship/tracking/artifacts"
)

// maxPreviewBytes is the largest text file shown inline on a run page.
const maxPreviewBytes = 1 << 20

// imageTypes are the artifact types previewed as images. SVG is among them
// only because <img> never runs an SVG's scripts; the raw route still
// sandboxes it for direct visits.
var imageTypes = map[string]string{
	".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
	".gif": "image/gif", ".svg": "image/svg+xml",
}

// textNames are files shown as text whatever their content sniffs as.
var textExts = map[string]bool{
	".txt": true, ".log": true, ".json": true, ".yaml": true, ".yml": true,
	".csv": true, ".tsv": true, ".md": true, ".py": true, ".toml": true,
	".cfg": true, ".ini": true, ".html": true, ".xml": true, ".sh": true,
}

type artifactView struct {
	Enabled bool
	Error   string
	Dir     string
	Crumbs  []crumb // the directory path, each part a link
	Entries []artifactEntry
	File    *filePreview
}

type artifactEntry struct {
	Name     string
	IsDir    bool
	Size     string
	URL      string // browse (dir) or preview (file)
	Download string
	Selected bool
}

type filePreview struct {
	Path     string
	Size     string
	Download string
	Text     string // set for a text preview
	Image    string // set for an image preview: the raw URL
	Note     string // why there is no preview
}

// artifactsOf builds the artifact browser of a run page for ?dir= and
// ?file=, and returns the root listing for model detection. A bad path
// answers 400 in the page; a failing repository is shown, not fatal.
func (h *handler) artifactsOf(ctx context.Context, run *tracking.Run, q url.Values) (v artifactView, repo artifacts.Repository, root []artifacts.FileInfo, status int) {
	status = http.StatusOK
	if h.opts.Artifacts == nil {
		return v, nil, nil, status
	}
	v.Enabled = true
	repo, err := h.opts.Artifacts(ctx, run)
	if err != nil {
		h.log.WarnContext(ctx, "ui: opening artifact repository", "run", run.Info.RunID, "err", err)
		v.Error = "The artifact repository could not be opened: " + err.Error()
		return v, nil, nil, status
	}
	dir, err := artifacts.CleanPath(q.Get("dir"))
	if err != nil {
		v.Error = userMessage(err)
		return v, repo, nil, statusOf(err)
	}
	file := ""
	if f := q.Get("file"); f != "" {
		if file, err = artifacts.CleanPath(f); err != nil || file == "" {
			v.Error = "Invalid path"
			return v, repo, nil, http.StatusBadRequest
		}
		dir = parentDir(file)
	}
	v.Dir = dir
	runURL := h.runLink(run.Info.RunID)
	v.Crumbs = []crumb{{Label: "artifacts", URL: runURL + "#artifacts"}}
	if dir != "" {
		parts := strings.Split(dir, "/")
		for i, p := range parts {
			v.Crumbs = append(v.Crumbs, crumb{Label: p, URL: runURL + "?dir=" + queryEscape(strings.Join(parts[:i+1], "/")) + "#artifacts"})
		}
	}
	entries, err := repo.List(ctx, dir)
	if err != nil {
		h.log.WarnContext(ctx, "ui: listing artifacts", "run", run.Info.RunID, "dir", dir, "err", err)
		v.Error = "Listing artifacts failed: " + err.Error()
		return v, repo, nil, status
	}
	if dir == "" {
		root = entries
	} else if root, err = repo.List(ctx, ""); err != nil {
		root = nil
	}
	var found *artifacts.FileInfo
	for i, e := range entries {
		ent := artifactEntry{Name: path.Base(e.Path), IsDir: e.IsDir}
		if e.IsDir {
			ent.URL = runURL + "?dir=" + queryEscape(e.Path) + "#artifacts"
		} else {
			ent.Size = formatSize(e.Size)
			ent.URL = runURL + "?file=" + queryEscape(e.Path) + "#artifacts"
			ent.Download = h.rawLink(run.Info.RunID, e.Path, true)
			if e.Path == file {
				ent.Selected = true
				found = &entries[i]
			}
		}
		v.Entries = append(v.Entries, ent)
	}
	if file != "" {
		if found == nil {
			v.Error = "No artifact at " + file
			return v, repo, root, http.StatusNotFound
		}
		v.File = h.preview(ctx, run.Info.RunID, repo, *found)
	}
	return v, repo, root, status
}

func parentDir(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return ""
}

// queryEscape escapes a query value; paths keep their slashes readable.
func queryEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "%2F", "/")
}

// preview shows an image through the raw route, reads a small text file
// for a <pre>, and otherwise offers the download.
func (h *handler) preview(ctx context.Context, runID string, repo artifacts.Repository, f artifacts.FileInfo) *filePreview {
	p := &filePreview{Path: f.Path, Size: formatSize(f.Size), Download: h.rawLink(runID, f.Path, true)}
	ext := strings.ToLower(path.Ext(f.Path))
	if _, ok := imageTypes[ext]; ok {
		p.Image = h.rawLink(runID, f.Path, false)
		return p
	}
	if f.Size > maxPreviewBytes {
		p.Note = "Too large to preview (over 1 MiB)."
		return p
	}
	rc, err := repo.Open(ctx, f.Path)
	if err != nil {
		p.Note = "Could not read the file: " + userMessage(err)
		return p
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxPreviewBytes+1))
	switch {
	case err != nil:
		p.Note = "Could not read the file."
	case len(data) > maxPreviewBytes:
		p.Note = "Too large to preview (over 1 MiB)."
	case isText(data, ext, path.Base(f.Path)):
		p.Text = string(data)
	default:
		p.Note = "Binary file; no preview."
	}
	return p
}

// isText reports whether data should be shown as text: valid UTF-8 with
// no NUL bytes, for a known text extension or any file that looks so.
func isText(data []byte, ext, name string) bool {
	if bytes.IndexByte(data, 0) >= 0 || !utf8.Valid(data) {
		return false
	}
	if textExts[ext] || name == "MLmodel" || name == "MLproject" || name == "requirements.txt" {
		return true
	}
	return ext == "" || len(data) == 0 || strings.HasPrefix(http.DetectContentType(data), "text/")
}

// raw streams an artifact's bytes. Images the UI previews are served
// inline with their type; text as text/plain; anything else, and every
// request with ?download=1, as an attachment. Every answer carries nosniff
// and a sandboxing content security policy, so an uploaded HTML or SVG file
// opened directly cannot run script in this origin.
func (h *handler) raw(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	run, err := h.store.GetRun(ctx, r.PathValue("run"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if h.opts.Artifacts == nil {
		h.fail(w, r, tracking.Errorf(tracking.ResourceDoesNotExist, "Artifact browsing is not configured"))
		return
	}
	p, err := artifacts.CleanPath(r.URL.Query().Get("path"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if p == "" {
		h.fail(w, r, tracking.Errorf(tracking.InvalidParameterValue, "Invalid path"))
		return
	}
	repo, err := h.opts.Artifacts(ctx, run)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	rc, err := repo.Open(ctx, p)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer rc.Close()

	ext := strings.ToLower(path.Ext(p))
	ctype, image := imageTypes[ext]
	inline := image && ext != ".svg"
	switch {
	case image:
	case textExts[ext] || path.Base(p) == "MLmodel":
		ctype, inline = "text/plain; charset=utf-8", true
	default:
		ctype = "application/octet-stream"
	}
	if r.URL.Query().Get("download") != "" {
		inline = false
	}
	hd := w.Header()
	hd.Set("Content-Type", ctype)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; sandbox")
	hd.Set("Cache-Control", "private, max-age=60")
	disp := "attachment"
	if inline {
		disp = "inline"
	}
	hd.Set("Content-Disposition", mime.FormatMediaType(disp, map[string]string{"filename": path.Base(p)}))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	if _, err := io.Copy(w, rc); err != nil {
		h.log.WarnContext(ctx, "ui: streaming artifact", "run", run.Info.RunID, "path", p, "err", err)
	}
}
