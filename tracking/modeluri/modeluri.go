// Package modeluri turns MLflow's run-relative model URIs,
// runs:/<run_id>/<path>, into local directories: the artifacts are
// downloaded once into a cache and reused by every later command.
//
// A cache entry is complete or absent: a download goes to a temporary
// directory beside the entry and is renamed into place when every file is
// there, so an interrupted download is never mistaken for a model, and two
// processes resolving the same URI at once both end up with one entry.
package modeluri

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Scheme is the URI scheme of run-relative model URIs.
const Scheme = "runs:"

// IsRunsURI reports whether ref is a runs:/ URI.
func IsRunsURI(ref string) bool { return strings.HasPrefix(ref, Scheme) }

// RunsURI is a parsed runs:/<run_id>/<path>.
type RunsURI struct {
	RunID string
	Path  string // artifact path relative to the run's root; "" is the root
}

func (u RunsURI) String() string {
	if u.Path == "" {
		return "runs:/" + u.RunID
	}
	return "runs:/" + u.RunID + "/" + u.Path
}

// Parse reads runs:/<run_id>/<path> (also runs:///<run_id>/<path>). The run
// id is letters, digits, '-' and '_' (MLflow's are 32 hex digits); the path
// is relative and may not climb out of the run's artifacts.
func Parse(ref string) (RunsURI, error) {
	rest, ok := strings.CutPrefix(ref, Scheme)
	if !ok {
		return RunsURI{}, fmt.Errorf("model URI %q is not a runs:/ URI", ref)
	}
	if !strings.HasPrefix(rest, "/") {
		return RunsURI{}, fmt.Errorf("model URI %q: want runs:/<run_id>/<path>", ref)
	}
	// runs://profile/<id>/... names a Databricks profile in MLflow; mlship
	// talks to one tracking server, so only an empty authority is allowed.
	if strings.HasPrefix(rest, "//") {
		if !strings.HasPrefix(rest, "///") {
			return RunsURI{}, fmt.Errorf("model URI %q: a runs:// authority is not supported; use runs:/<run_id>/<path> with MLFLOW_TRACKING_URI", ref)
		}
		rest = rest[2:]
	}
	rest = strings.TrimPrefix(rest, "/")
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		return RunsURI{}, fmt.Errorf("model URI %q: query and fragment are not allowed", ref)
	}
	id, p, _ := strings.Cut(rest, "/")
	if id == "" {
		return RunsURI{}, fmt.Errorf("model URI %q: missing run id (want runs:/<run_id>/<path>)", ref)
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return RunsURI{}, fmt.Errorf("model URI %q: run id %q has a character other than letters, digits, - and _", ref, id)
		}
	}
	if len(id) > 128 {
		return RunsURI{}, fmt.Errorf("model URI %q: run id is too long", ref)
	}
	if strings.Contains(p, "\\") || strings.ContainsRune(p, 0) {
		return RunsURI{}, fmt.Errorf("model URI %q: the path must use / separators", ref)
	}
	p = strings.TrimLeft(p, "/")
	if p != "" {
		c := path.Clean(p)
		if c == ".." || strings.HasPrefix(c, "../") {
			return RunsURI{}, fmt.Errorf("model URI %q: the path leaves the run's artifacts", ref)
		}
		if c == "." {
			c = ""
		}
		p = c
	}
	return RunsURI{RunID: id, Path: p}, nil
}

// Downloader copies a run's artifacts; *client.Client is one.
type Downloader interface {
	// DownloadArtifacts copies artifact path p of run runID (a file or a
	// directory) under dst and returns dst/p.
	DownloadArtifacts(ctx context.Context, runID, p, dst string) (string, error)
}

// Resolve returns the local path of the model a runs:/ URI names,
// downloading it into cacheDir on first use. Later calls with the same run
// id and path return the cached copy without contacting the server: a
// run's logged artifacts do not change once a model is logged.
func Resolve(ctx context.Context, d Downloader, ref, cacheDir string) (string, error) {
	u, err := Parse(ref)
	if err != nil {
		return "", err
	}
	if cacheDir == "" {
		return "", errors.New("resolving " + ref + ": no cache directory (set MLSHIP_CACHE_DIR)")
	}
	entry := EntryDir(cacheDir, u)
	local := filepath.Join(entry, filepath.FromSlash(u.Path))
	if _, err := os.Stat(local); err == nil {
		return local, nil
	}
	parent := filepath.Dir(entry)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", fmt.Errorf("resolving %s: %w", ref, err)
	}
	tmp, err := os.MkdirTemp(parent, ".download-*")
	if err != nil {
		return "", fmt.Errorf("resolving %s: %w", ref, err)
	}
	defer os.RemoveAll(tmp)
	if _, err := d.DownloadArtifacts(ctx, u.RunID, u.Path, tmp); err != nil {
		return "", fmt.Errorf("downloading %s: %w", ref, err)
	}
	if _, err := os.Stat(filepath.Join(tmp, filepath.FromSlash(u.Path))); err != nil {
		return "", fmt.Errorf("downloading %s: the run has no artifact %q", ref, u.Path)
	}
	if err := os.Rename(tmp, entry); err != nil {
		// Another process finished the same download first: use its copy.
		if _, serr := os.Stat(local); serr == nil {
			return local, nil
		}
		return "", fmt.Errorf("resolving %s: %w", ref, err)
	}
	return local, nil
}

// EntryDir is the cache directory holding the download of u:
// <cacheDir>/runs/<run_id>/<hash of path>, with the artifact at
// <entry>/<path>.
func EntryDir(cacheDir string, u RunsURI) string {
	sum := sha256.Sum256([]byte(u.Path))
	return filepath.Join(cacheDir, "runs", u.RunID, hex.EncodeToString(sum[:8]))
}

// Evict removes the cached copy of ref, if any, so the next Resolve
// downloads it again.
func Evict(cacheDir, ref string) error {
	u, err := Parse(ref)
	if err != nil {
		return err
	}
	err = os.RemoveAll(EntryDir(cacheDir, u))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
