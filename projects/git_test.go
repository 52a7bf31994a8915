package projects

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlship/mlship/internal/testenv"
)

// gitRepo is a working repository holding the typed example under proj/,
// with two commits (v1 tagged, then a change of the label default), pushed
// to a bare repository.
type gitRepo struct {
	work, bare    string
	first, second string
	firstLabel    string
	secondLabel   string
	defaultBranch string
}

func runGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(testEnviron(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t",
		"GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func newGitRepo(t *testing.T) *gitRepo {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		testenv.Missing(t, "git is not on PATH")
	}
	g := &gitRepo{work: filepath.Join(t.TempDir(), "work"), bare: filepath.Join(t.TempDir(), "origin.git"),
		firstLabel: "first run", secondLabel: "second-commit", defaultBranch: "trunk"}
	src := filepath.Join(testenv.RepoRoot(t), "examples", "projects", "typed")
	if err := os.CopyFS(filepath.Join(g.work, "proj"), os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	runGit(t, g.work, "init", "-q", "-b", g.defaultBranch)
	runGit(t, g.work, "add", ".")
	runGit(t, g.work, "commit", "-q", "-m", "first")
	runGit(t, g.work, "tag", "v1")
	g.first = runGit(t, g.work, "rev-parse", "HEAD")
	mlp := filepath.Join(g.work, "proj", "MLproject")
	data, err := os.ReadFile(mlp)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mlp, []byte(strings.Replace(string(data), `default: "first run"`, `default: "`+g.secondLabel+`"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	runGit(t, g.work, "commit", "-q", "-am", "second")
	g.second = runGit(t, g.work, "rev-parse", "HEAD")
	runGit(t, g.work, "branch", "feature", g.first)
	runGit(t, filepath.Dir(g.bare), "init", "-q", "--bare", "-b", g.defaultBranch, g.bare)
	runGit(t, g.work, "push", "-q", "--tags", g.bare, g.defaultBranch, "feature")
	return g
}

// TestGitSources runs the project from a bare repository over file://
// with #subdirectory, at the default branch, a tag, a branch and an
// abbreviated commit, and from a local working copy with --version, which
// must stay untouched.
func TestGitSources(t *testing.T) {
	requirePython(t)
	g := newGitRepo(t)
	ts := newTrackingServer(t)
	url := "file://" + g.bare
	tmp := t.TempDir() // TMPDIR of every run: temporary clones go there
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(g.work, link); err != nil {
		t.Fatal(err)
	}
	withTmp := func(o *Options) {
		env := append(testEnviron(), "TMPDIR="+tmp)
		o.Environ, o.Getenv = env, getenvOf(env)
	}
	for _, tc := range []struct {
		name, uri, version    string
		commit, label, branch string
		sourceName, repoURL   string
	}{
		{"default branch", url + "#proj", "", g.second, g.secondLabel, "", url + "#proj", url},
		{"tag", url + "#proj", "v1", g.first, g.firstLabel, "", url + "#proj", url},
		{"branch", url + "#proj", "feature", g.first, g.firstLabel, "feature", url + "#proj", url},
		{"full commit", url + "#proj", g.first, g.first, g.firstLabel, "", url + "#proj", url},
		{"short commit", url + "#proj", g.first[:10], g.first, g.firstLabel, "", url + "#proj", url},
		{"working copy at a tag", filepath.Join(g.work, "proj"), "v1", g.first, g.firstLabel, "", "file://" + g.work + "#proj", filepath.Join(g.work)},
		{"working copy in place", filepath.Join(g.work, "proj"), "", g.second, g.secondLabel, "", "file://" + g.work + "#proj", ""},
		{"working copy through a symlink", filepath.Join(link, "proj"), "", g.second, g.secondLabel, "", "file://" + g.work + "#proj", ""},
		{"working copy at a tag through a symlink", filepath.Join(link, "proj"), "v1", g.first, g.firstLabel, "", "file://" + g.work + "#proj", g.work},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, stdout, _ := ts.options(t, tc.uri, "alpha=0.5")
			o.Version = tc.version
			withTmp(&o)
			res, err := Run(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			r := ts.run(t, res.RunID)
			if r.tags[TagGitCommit] != tc.commit || r.tags[TagSourceName] != tc.sourceName || r.tags[TagGitRepoURL] != tc.repoURL ||
				r.tags[TagGitBranch] != tc.branch || r.params["label"] != tc.label {
				t.Errorf("tags %v params %v; want commit %s source %s repo %q branch %q label %q",
					r.tags, r.params, tc.commit, tc.sourceName, tc.repoURL, tc.branch, tc.label)
			}
			var out struct{ Label, Cwd string }
			if err := json.Unmarshal([]byte(stdout.String()), &out); err != nil || out.Label != tc.label {
				t.Errorf("script printed %q (%v)", stdout.String(), err)
			}
			if tc.version != "" && strings.HasPrefix(out.Cwd, g.work) {
				t.Errorf("--version ran in the working copy %s", out.Cwd)
			}
		})
	}
	// A repository whose only remote is not called origin: its URL.
	runGit(t, g.work, "remote", "add", "upstream", "https://example.com/org/repo.git")
	o, _, _ := ts.options(t, filepath.Join(g.work, "proj"), "alpha=0.5")
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if tags := ts.run(t, res.RunID).tags; tags[TagGitRepoURL] != "https://example.com/org/repo.git" {
		t.Errorf("upstream remote: %v", tags)
	}
	runGit(t, g.work, "remote", "remove", "upstream")
	// The working copy was not touched: still at the second commit, clean.
	if head := runGit(t, g.work, "rev-parse", "HEAD"); head != g.second {
		t.Errorf("working copy moved to %s", head)
	}
	if st := runGit(t, g.work, "status", "--porcelain"); st != "" {
		t.Errorf("working copy changed:\n%s", st)
	}
	// Temporary clones are removed.
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("left in TMPDIR: %v", left)
	}
	// Errors: a missing subdirectory, a '.' in it, a version that does
	// not exist, --version on a directory outside git.
	for _, tc := range []struct{ uri, version, want string }{
		{url + "#nope", "", "project subdirectory nope not found"},
		{url + "#../x", "", "'.' is not allowed"},
		{url + "#proj", "v9", "Unable to checkout version 'v9' of git repo " + url + " - please ensure that the version exists in the repo."},
		{"file://" + filepath.Join(t.TempDir(), "missing.git"), "", "cloning"},
		{t.TempDir(), "v1", "Setting a version is only supported for Git project URIs"},
	} {
		o, _, _ := ts.options(t, tc.uri, "alpha=1")
		o.Version = tc.version
		if _, err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s@%s: %v, want %q", tc.uri, tc.version, err, tc.want)
		}
	}
}

func TestIsGitURI(t *testing.T) {
	for uri, want := range map[string]bool{
		"https://github.com/mlflow/mlflow-example": true, "git@github.com:mlflow/mlflow-example.git": true,
		"ssh://git@host/repo": true, "file:///srv/repo.git": true, "./local": false, "/abs/dir": false, "./dir@2:x/y": false, "user@host:repo.git": true,
	} {
		if got := isGitURI(uri); got != want {
			t.Errorf("isGitURI(%q) = %v", uri, got)
		}
	}
}
