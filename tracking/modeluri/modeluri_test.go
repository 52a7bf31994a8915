package modeluri

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestParse(t *testing.T) {
	ok := []struct {
		in   string
		want RunsURI
	}{
		{"runs:/0123456789abcdef0123456789abcdef/model", RunsURI{"0123456789abcdef0123456789abcdef", "model"}},
		{"runs:///abc/model/sub/", RunsURI{"abc", "model/sub"}},
		{"runs:/abc", RunsURI{"abc", ""}},
		{"runs:/abc/", RunsURI{"abc", ""}},
		{"runs:/abc/./model//MLmodel", RunsURI{"abc", "model/MLmodel"}},
		{"runs:/a-b_c/m", RunsURI{"a-b_c", "m"}},
	}
	for _, c := range ok {
		got, err := Parse(c.in)
		if err != nil || got != c.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	bad := map[string]string{
		"runs:abc/model":        "want runs:/",
		"runs:/":                "missing run id",
		"runs://profile/abc/m":  "authority",
		"runs:/abc/../x":        "leaves",
		"runs:/abc/m/../../x":   "leaves",
		"runs:/ab c/m":          "character",
		"runs:/../etc":          "character",
		"runs:/abc/m?x=1":       "query",
		`runs:/abc/m\..\..\x`:   "separators",
		"models:/name/1":        "not a runs:/",
		"runs:/" + long(129):    "too long",
		"runs:/abc/m%2f..%2f..": "", // %-sequences are literal names, not escapes
	}
	for in, want := range bad {
		got, err := Parse(in)
		if want == "" {
			if err != nil || strings.Contains(got.Path, "..") && !strings.Contains(got.Path, "%2f") {
				t.Errorf("Parse(%q) = %+v, %v", in, got, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %+v, %v; want error with %q", in, got, err, want)
		}
	}
	if !IsRunsURI("runs:/x/y") || IsRunsURI("/tmp/runs:/x") {
		t.Error("IsRunsURI")
	}
	if s := (RunsURI{"abc", "model"}).String(); s != "runs:/abc/model" {
		t.Errorf("String() = %q", s)
	}
}

func long(n int) string { return strings.Repeat("a", n) }

// dirDownloader serves artifacts from a local directory tree laid out as
// <root>/<run_id>/<path>, counting downloads; block, when set, holds each
// download until it is closed.
type dirDownloader struct {
	root  string
	calls atomic.Int32
	block chan struct{}
	fail  error
}

func (d *dirDownloader) DownloadArtifacts(ctx context.Context, runID, p, dst string) (string, error) {
	d.calls.Add(1)
	if d.block != nil {
		<-d.block
	}
	if d.fail != nil {
		// Leave a partial file behind, as an interrupted download would.
		_ = os.WriteFile(filepath.Join(dst, "partial"), []byte("x"), 0o644)
		return "", d.fail
	}
	src := filepath.Join(d.root, runID, filepath.FromSlash(p))
	target := filepath.Join(dst, filepath.FromSlash(p))
	return target, filepath.Walk(src, func(f string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, f)
		out := filepath.Join(target, rel)
		if info.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		return os.WriteFile(out, data, 0o644)
	})
}

func TestResolveCaches(t *testing.T) {
	src := t.TempDir()
	model := filepath.Join(src, "run1", "model")
	if err := os.MkdirAll(model, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(model, "MLmodel"), []byte("flavors: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	d := &dirDownloader{root: src}
	ctx := context.Background()

	d.fail = errors.New("connection reset")
	if _, err := Resolve(ctx, d, "runs:/run1/model", cache); err == nil || !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("failed download: err = %v", err)
	}
	if _, err := os.Stat(EntryDir(cache, RunsURI{"run1", "model"})); err == nil {
		t.Fatal("a failed download left a cache entry")
	}
	if left, _ := filepath.Glob(filepath.Join(cache, "runs", "run1", ".download-*")); len(left) != 0 {
		t.Fatalf("a failed download left %v", left)
	}
	d.fail = nil

	first, err := Resolve(ctx, d, "runs:/run1/model", cache)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(first, "MLmodel")); err != nil {
		t.Fatalf("resolved %s has no MLmodel: %v", first, err)
	}
	if !strings.HasPrefix(first, cache) || filepath.Base(first) != "model" {
		t.Errorf("resolved to %s", first)
	}
	again, err := Resolve(ctx, d, "runs:///run1/model/", cache)
	if err != nil || again != first {
		t.Fatalf("second resolve = %s, %v; want %s", again, err, first)
	}
	if n := d.calls.Load(); n != 2 { // the failed one and the first good one
		t.Errorf("%d downloads, want 2 (the second resolve must use the cache)", n)
	}

	// A file inside the model is a different entry.
	file, err := Resolve(ctx, d, "runs:/run1/model/MLmodel", cache)
	if err != nil || filepath.Base(file) != "MLmodel" {
		t.Fatalf("file resolve = %s, %v", file, err)
	}

	// A path the run does not have is an error, not an empty model.
	if _, err := Resolve(ctx, d, "runs:/run1/nothing", cache); err == nil {
		t.Error("a missing artifact resolved")
	}

	if err := Evict(cache, "runs:/run1/model"); err != nil {
		t.Fatal(err)
	}
	if _, err := Resolve(ctx, d, "runs:/run1/model", cache); err != nil {
		t.Fatal(err)
	}
	if n := d.calls.Load(); n != 5 {
		t.Errorf("%d downloads after evict, want 5", n)
	}
}

// Two resolvers racing for the same URI both get the one complete entry.
func TestResolveConcurrent(t *testing.T) {
	src := t.TempDir()
	model := filepath.Join(src, "r", "m")
	if err := os.MkdirAll(model, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(model, "MLmodel"), []byte("flavors: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	d := &dirDownloader{root: src, block: make(chan struct{})}
	var wg sync.WaitGroup
	paths := make([]string, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Go(func() { paths[i], errs[i] = Resolve(context.Background(), d, "runs:/r/m", cache) })
	}
	for d.calls.Load() < 2 {
		// Both are downloading; let them finish together.
		runtimeGosched()
	}
	close(d.block)
	wg.Wait()
	for i := range 2 {
		if errs[i] != nil || paths[i] != paths[0] {
			t.Fatalf("resolver %d: %s, %v (other %s)", i, paths[i], errs[i], paths[0])
		}
	}
	if left, _ := filepath.Glob(filepath.Join(cache, "runs", "r", ".download-*")); len(left) != 0 {
		t.Fatalf("left %v", left)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"runs:/abc/model", "runs:///abc/m/", "runs:/abc/../x", "runs:/a/b/../../c", "runs://p/a/b", "runs:/a/%2e%2e/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := Parse(s)
		if err != nil {
			return
		}
		if u.RunID == "" || strings.ContainsAny(u.RunID, "/.\\") {
			t.Fatalf("Parse(%q): run id %q", s, u.RunID)
		}
		p := u.Path
		if p == ".." || strings.HasPrefix(p, "../") || strings.HasPrefix(p, "/") || strings.Contains(p, "/../") || strings.HasSuffix(p, "/..") {
			t.Fatalf("Parse(%q): path %q climbs out", s, p)
		}
		// The cache entry stays under the cache.
		cache := "/cache"
		local := filepath.Join(EntryDir(cache, u), filepath.FromSlash(p))
		if !strings.HasPrefix(local, cache+"/runs/") {
			t.Fatalf("Parse(%q): local path %s outside the cache", s, local)
		}
		back, err := Parse(u.String())
		if err != nil || back != u {
			t.Fatalf("round trip of %q: %+v, %v; want %+v", s, back, err, u)
		}
	})
}

func runtimeGosched() { runtime.Gosched() }
