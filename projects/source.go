package projects

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/mlship/mlship/projects/mlproject"
)

// Source is a project checked out (or found) on local disk.
type Source struct {
	Dir  string // the project directory (the #subdirectory applied)
	Name string // mlflow.source.name
	// Git facts, empty when the project is not in a git repository.
	Commit  string
	RepoURL string
	Branch  string // set only when --version names a branch, as in MLflow
	cleanup func()
}

// Close removes a temporary clone.
func (s *Source) Close() {
	if s.cleanup != nil {
		s.cleanup()
	}
}

// git runs the git binary with the given environment.
type git struct {
	path string
	env  []string
}

func (g git) run(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, g.path, args...)
	cmd.Dir = dir
	cmd.Env = g.env
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return "", fmt.Errorf("git %s: %s", strings.Join(args, " "), msg)
	}
	return strings.TrimSpace(out.String()), nil
}

// splitSubdir separates MLflow's #subdirectory suffix.
func splitSubdir(uri string) (string, string, error) {
	base, sub, ok := strings.Cut(uri, "#")
	if !ok || sub == "" {
		return base, "", nil
	}
	if strings.Contains(sub, ".") {
		return "", "", fmt.Errorf("'.' is not allowed in project subdirectory paths (%q)", sub)
	}
	if strings.HasPrefix(sub, "/") {
		return "", "", fmt.Errorf("project subdirectory %q must be relative", sub)
	}
	return base, filepath.Clean(sub), nil
}

// isGitURI reports whether uri names a git remote rather than a local
// directory: a URL with a scheme (https, ssh, git, file) or scp-like
// user@host:path.
func isGitURI(uri string) bool {
	if s := mlproject.URIScheme(uri); len(s) > 1 {
		return true
	}
	// git's own rule for scp-like syntax: a colon with no slash before
	// it. mlship also wants a user@ so that a local "a:b" stays local.
	colon := strings.IndexByte(uri, ':')
	return colon > 0 && !strings.Contains(uri[:colon], "/") && strings.Contains(uri[:colon], "@")
}

// fetchOptions say where a project comes from.
type fetchOptions struct {
	URI     string
	Version string
	WorkDir string // for relative local paths
	Git     string // the git binary
	Env     []string
	TempDir string // parent of temporary clones ("" = os.TempDir)
}

// fetch finds or checks out the project. A local directory is used in
// place unless a version is asked for; then it, like any git URL, is
// cloned into a temporary directory, so the user's working copy is never
// touched.
func fetch(ctx context.Context, o fetchOptions) (*Source, error) {
	base, sub, err := splitSubdir(o.URI)
	if err != nil {
		return nil, err
	}
	g := git{path: o.Git, env: o.Env}
	if !isGitURI(base) || isLocalDir(base, o.WorkDir) {
		dir := base
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(o.WorkDir, dir)
		}
		st, err := os.Stat(dir)
		if err != nil {
			return nil, fmt.Errorf("project %s: %w", o.URI, err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("project %s is not a directory (nor a git URL)", o.URI)
		}
		dir = filepath.Clean(dir)
		if o.Version == "" {
			return localSource(ctx, g, dir, sub)
		}
		if g.path == "" {
			return nil, errors.New("--version needs git, which is not on PATH")
		}
		top, rel, err := repoPlace(ctx, g, dir)
		if err != nil {
			return nil, fmt.Errorf("Setting a version is only supported for Git project URIs (%s is not in a git repository)", dir)
		}
		if rel != "" {
			sub = filepath.Join(rel, sub)
		}
		src, err := clone(ctx, g, top, o.Version, sub, o.TempDir)
		if err != nil {
			return nil, err
		}
		// The clone's origin is the local path; the user's repository may
		// know its real remote.
		if u := remoteURL(ctx, g, top); u != "" {
			src.RepoURL = u
		}
		src.Name = "file://" + top
		if sub != "" && sub != "." {
			src.Name += "#" + filepath.ToSlash(sub)
		}
		return src, nil
	}
	if g.path == "" {
		return nil, fmt.Errorf("project %s is a git URL, but git is not on PATH", o.URI)
	}
	src, err := clone(ctx, g, base, o.Version, sub, o.TempDir)
	if err != nil {
		return nil, err
	}
	src.Name = o.URI
	return src, nil
}

// localSource describes a directory used in place, with its git facts
// when it lies in a repository (MLflow's _get_git_url_if_present).
func localSource(ctx context.Context, g git, dir, sub string) (*Source, error) {
	pdir := filepath.Join(dir, sub)
	if st, err := os.Stat(pdir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("project subdirectory %s not found in %s", sub, dir)
	}
	src := &Source{Dir: pdir, Name: pdir}
	if g.path == "" {
		return src, nil
	}
	top, rel, err := repoPlace(ctx, g, pdir)
	if err != nil {
		return src, nil // not a git repository
	}
	if c, err := g.run(ctx, pdir, "rev-parse", "HEAD"); err == nil {
		src.Commit = c
	}
	src.RepoURL = remoteURL(ctx, g, pdir)
	src.Name = "file://" + top
	if rel != "" {
		src.Name += "#" + rel
	}
	return src, nil
}

// remoteURL is the URL of the repository's origin remote, else of its
// first remote (MLflow takes the first remote GitPython lists), "" when it
// has none.
func remoteURL(ctx context.Context, g git, dir string) string {
	if u, err := g.run(ctx, dir, "remote", "get-url", "origin"); err == nil {
		return u
	}
	out, err := g.run(ctx, dir, "remote")
	if err != nil || out == "" {
		return ""
	}
	first, _, _ := strings.Cut(out, "\n")
	u, _ := g.run(ctx, dir, "remote", "get-url", strings.TrimSpace(first))
	return u
}

// repoPlace is the root of the git repository holding dir and dir's path
// in it ("" at the root). Git says both, so a dir reached through a
// symbolic link (whose root git reports resolved) still gets its path in
// the repository rather than a "../.." one.
func repoPlace(ctx context.Context, g git, dir string) (top, rel string, err error) {
	out, err := g.run(ctx, dir, "rev-parse", "--show-toplevel", "--show-prefix")
	if err != nil {
		return "", "", err
	}
	top, rel, _ = strings.Cut(out, "\n")
	return top, strings.TrimSuffix(strings.TrimSpace(rel), "/"), nil
}

// clone checks out version (a branch, tag or commit; "" is the remote's
// default branch) of the repository at url into a new temporary
// directory, shallowly when the remote allows it, as MLflow's
// _fetch_git_repo does.
func clone(ctx context.Context, g git, url, version, sub, tempDir string) (_ *Source, err error) {
	dir, err := os.MkdirTemp(tempDir, "mlship-project-")
	if err != nil {
		return nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	defer func() {
		if err != nil {
			cleanup()
		}
	}()
	steps := [][]string{{"init", "-q"}, {"remote", "add", "origin", url}}
	for _, s := range steps {
		if _, err := g.run(ctx, dir, s...); err != nil {
			return nil, fmt.Errorf("cloning %s: %w", url, err)
		}
	}
	ref := version
	if ref == "" {
		out, err := g.run(ctx, dir, "ls-remote", "--symref", "origin", "HEAD")
		if err != nil {
			return nil, fmt.Errorf("cloning %s: %w", url, err)
		}
		ref = defaultBranch(out)
		if ref == "" {
			return nil, fmt.Errorf("cloning %s: cannot tell the remote's default branch (an empty repository?)", url)
		}
	}
	if _, err := g.run(ctx, dir, "fetch", "-q", "--depth", "1", "origin", ref); err == nil {
		_, err = g.run(ctx, dir, "checkout", "-q", "FETCH_HEAD")
		if err != nil {
			return nil, fmt.Errorf("cloning %s: %w", url, err)
		}
	} else {
		// An abbreviated commit cannot be fetched by name: fetch
		// everything and let checkout resolve it.
		if _, err := g.run(ctx, dir, "fetch", "-q", "--tags", "origin", "+refs/heads/*:refs/remotes/origin/*"); err != nil {
			return nil, fmt.Errorf("cloning %s: %w", url, err)
		}
		if _, err := g.run(ctx, dir, "checkout", "-q", ref); err != nil {
			return nil, fmt.Errorf("Unable to checkout version '%s' of git repo %s - please ensure that the version exists in the repo. Error: %w", ref, url, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, ".gitmodules")); err == nil {
		if _, err := g.run(ctx, dir, "submodule", "update", "--init", "--recursive", "-q"); err != nil {
			return nil, fmt.Errorf("cloning %s: %w", url, err)
		}
	}
	commit, err := g.run(ctx, dir, "rev-parse", "HEAD")
	if err != nil {
		return nil, err
	}
	src := &Source{Dir: filepath.Join(dir, sub), Commit: commit, RepoURL: url, cleanup: cleanup}
	if src.Dir != dir && !strings.HasPrefix(src.Dir, dir+string(filepath.Separator)) {
		return nil, fmt.Errorf("project subdirectory %s leaves the clone of %s", sub, url)
	}
	if st, err := os.Stat(src.Dir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("project subdirectory %s not found in %s at %s", sub, url, commit[:min(len(commit), 12)])
	}
	if version != "" {
		if out, err := g.run(ctx, dir, "ls-remote", "--heads", "origin", "refs/heads/"+version); err == nil && out != "" {
			src.Branch = version
		}
	}
	return src, nil
}

// defaultBranch reads `git ls-remote --symref origin HEAD`:
// "ref: refs/heads/main\tHEAD".
func defaultBranch(out string) string {
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, "ref: refs/heads/"); ok {
			name, _, _ := strings.Cut(rest, "\t")
			return name
		}
	}
	return ""
}

// isLocalDir reports whether p, which is not a URL with a scheme, names an
// existing directory (a local "user@host:dir" wins over git's scp syntax).
func isLocalDir(p, wd string) bool {
	if len(mlproject.URIScheme(p)) > 1 {
		return false
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(wd, p)
	}
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
