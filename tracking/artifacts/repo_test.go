package artifacts

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mlship/mlship/tracking"
)

// repoSuite is the behaviour every Repository shares. stored reports how
// many bytes of an upload still in progress under name have reached the
// backend (the temp file's size, the uploaded parts' sizes): the streaming
// test asserts on it midway.
type repoSuite struct {
	new    func(t *testing.T) Repository
	stored func(t *testing.T, name string) int64
	// bigSize is the streamed file's size and midway the point at which it
	// must already be partly stored.
	bigSize, midway int64
}

func (s repoSuite) run(t *testing.T) {
	t.Run("RoundTrip", s.roundTrip)
	t.Run("Hostile", s.hostile)
	t.Run("FailedPut", s.failedPut)
	t.Run("Streaming", s.streaming)
	t.Run("Sub", s.sub)
}

func put(t *testing.T, r Repository, p, content string) {
	t.Helper()
	if err := r.Put(t.Context(), p, strings.NewReader(content)); err != nil {
		t.Fatalf("Put(%q): %v", p, err)
	}
}

func read(t *testing.T, r Repository, p string) string {
	t.Helper()
	rc, err := r.Open(t.Context(), p)
	if err != nil {
		t.Fatalf("Open(%q): %v", p, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %q: %v", p, err)
	}
	return string(b)
}

func list(t *testing.T, r Repository, dir string) []FileInfo {
	t.Helper()
	infos, err := r.List(t.Context(), dir)
	if err != nil {
		t.Fatalf("List(%q): %v", dir, err)
	}
	return infos
}

func wantCode(t *testing.T, what string, err error, code tracking.ErrorCode) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want %s", what, code)
		return
	}
	if got := tracking.CodeOf(err); got != code {
		t.Errorf("%s: %v (%s), want %s", what, err, got, code)
	}
}

func (s repoSuite) roundTrip(t *testing.T) {
	r := s.new(t)
	ctx := t.Context()
	if got := list(t, r, ""); len(got) != 0 {
		t.Errorf("a new repository lists %v", got)
	}
	put(t, r, "model/MLmodel", "flavors: {}\n")
	put(t, r, "model/data/weights.bin", "\x00\x01\x02")
	put(t, r, "model/data/deep/er/x.txt", "deep")
	put(t, r, "empty.txt", "")
	put(t, r, "metrics.json", "{}")
	put(t, r, "./notes//a.txt", "a") // cleaned to notes/a.txt

	for p, want := range map[string]string{
		"model/MLmodel": "flavors: {}\n", "model/data/weights.bin": "\x00\x01\x02",
		"model/data/deep/er/x.txt": "deep", "empty.txt": "", "notes/a.txt": "a",
	} {
		if got := read(t, r, p); got != want {
			t.Errorf("Open(%q) = %q, want %q", p, got, want)
		}
	}
	if diff := cmp.Diff([]FileInfo{
		{Path: "empty.txt"}, {Path: "metrics.json", Size: 2},
		{Path: "model", IsDir: true}, {Path: "notes", IsDir: true},
	}, list(t, r, "")); diff != "" {
		t.Errorf("List(root) (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]FileInfo{
		{Path: "model/MLmodel", Size: 12}, {Path: "model/data", IsDir: true},
	}, list(t, r, "model/")); diff != "" {
		t.Errorf("List(model) (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]FileInfo{
		{Path: "model/data/deep", IsDir: true}, {Path: "model/data/weights.bin", Size: 3},
	}, list(t, r, "model/data")); diff != "" {
		t.Errorf("List(model/data) (-want +got):\n%s", diff)
	}
	if got := list(t, r, "nope"); len(got) != 0 {
		t.Errorf("List(missing) = %v, want empty", got)
	}
	if got := list(t, r, "mod"); len(got) != 0 { // a prefix of a name is not a directory
		t.Errorf("List(mod) = %v, want empty", got)
	}

	// Overwrite replaces the whole file.
	put(t, r, "metrics.json", `{"a": 1}`)
	if got := read(t, r, "metrics.json"); got != `{"a": 1}` {
		t.Errorf("after overwrite: %q", got)
	}

	_, err := r.Open(ctx, "missing.txt")
	wantCode(t, "Open(missing)", err, tracking.ResourceDoesNotExist)
	_, err = r.Open(ctx, "model/MLmodel/x")
	wantCode(t, "Open(through a file)", err, tracking.ResourceDoesNotExist)
	_, err = r.Open(ctx, "model")
	wantCode(t, "Open(a directory)", err, tracking.ResourceDoesNotExist)
	wantCode(t, "Put(root)", r.Put(ctx, "", strings.NewReader("x")), tracking.InvalidParameterValue)

	// Delete a file, a tree, something missing; "model" must not take
	// "model2" with it.
	put(t, r, "model2/keep.txt", "keep")
	if err := r.Delete(ctx, "empty.txt"); err != nil {
		t.Fatal(err)
	}
	if err := r.Delete(ctx, "model"); err != nil {
		t.Fatal(err)
	}
	if err := r.Delete(ctx, "never/was"); err != nil {
		t.Errorf("Delete(missing): %v", err)
	}
	if diff := cmp.Diff([]FileInfo{
		{Path: "metrics.json", Size: 8}, {Path: "model2", IsDir: true}, {Path: "notes", IsDir: true},
	}, list(t, r, "")); diff != "" {
		t.Errorf("List after deletes (-want +got):\n%s", diff)
	}
	_, err = r.Open(ctx, "model/data/deep/er/x.txt")
	wantCode(t, "Open(deleted)", err, tracking.ResourceDoesNotExist)
	if got := read(t, r, "model2/keep.txt"); got != "keep" {
		t.Errorf("model2/keep.txt = %q", got)
	}
	if err := r.Delete(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if got := list(t, r, ""); len(got) != 0 {
		t.Errorf("after Delete(root): %v", got)
	}
}

func (s repoSuite) hostile(t *testing.T) {
	r := s.new(t)
	ctx := t.Context()
	put(t, r, "inside.txt", "x")
	for _, p := range []string{"../x", "/etc/passwd", "a/../../x", `..\x`, "%2e%2e/x", "%252e%252e/x", "a\x00b"} {
		wantCode(t, "Put("+p+")", r.Put(ctx, p, strings.NewReader("evil")), tracking.InvalidParameterValue)
		_, err := r.Open(ctx, p)
		wantCode(t, "Open("+p+")", err, tracking.InvalidParameterValue)
		_, err = r.List(ctx, p)
		wantCode(t, "List("+p+")", err, tracking.InvalidParameterValue)
		wantCode(t, "Delete("+p+")", r.Delete(ctx, p), tracking.InvalidParameterValue)
	}
	if diff := cmp.Diff([]FileInfo{{Path: "inside.txt", Size: 1}}, list(t, r, "")); diff != "" {
		t.Errorf("after hostile calls (-want +got):\n%s", diff)
	}
}

// failingReader gives n bytes, then an error.
type failingReader struct{ n int64 }

var errMidway = errors.New("client went away")

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errMidway
	}
	k := min(int64(len(p)), f.n)
	clear(p[:k])
	f.n -= k
	return int(k), nil
}

func (s repoSuite) failedPut(t *testing.T) {
	r := s.new(t)
	ctx := t.Context()
	put(t, r, "old.bin", "old")
	for _, n := range []int64{0, 1000, s.midway} {
		err := r.Put(ctx, "dir/new.bin", &failingReader{n: n})
		if !errors.Is(err, errMidway) {
			t.Errorf("Put failing after %d bytes: %v, want the reader's error", n, err)
		}
		_, err = r.Open(ctx, "dir/new.bin")
		wantCode(t, "Open after a failed Put", err, tracking.ResourceDoesNotExist)
		err = r.Put(ctx, "old.bin", &failingReader{n: n})
		if !errors.Is(err, errMidway) {
			t.Errorf("overwrite failing after %d bytes: %v", n, err)
		}
		if got := read(t, r, "old.bin"); got != "old" {
			t.Errorf("a failed overwrite left %d bytes, want the old file", len(got))
		}
	}
	if diff := cmp.Diff([]FileInfo{{Path: "old.bin", Size: 3}}, nonEmptyDirs(t, r)); diff != "" {
		t.Errorf("failed Puts left something (-want +got):\n%s", diff)
	}
	// A cancelled context stops an upload the same way.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := r.Put(cctx, "cancelled.bin", &failingReader{n: 1 << 20}); err == nil {
		t.Error("Put with a cancelled context succeeded")
	}
	_, err := r.Open(ctx, "cancelled.bin")
	wantCode(t, "Open after a cancelled Put", err, tracking.ResourceDoesNotExist)
}

// nonEmptyDirs lists every file of r, recursively (a local repository may
// keep an empty directory a failed Put created, which is harmless).
func nonEmptyDirs(t *testing.T, r Repository) []FileInfo {
	var out []FileInfo
	var walk func(string)
	walk = func(dir string) {
		for _, fi := range list(t, r, dir) {
			if fi.IsDir {
				walk(fi.Path)
			} else {
				out = append(out, fi)
			}
		}
	}
	walk("")
	return out
}

// genReader streams size deterministic bytes without holding them, hashes
// what it gave, and calls at once when off passes at.
type genReader struct {
	size, off int64
	at        int64
	atFn      func()
	h         interface{ Write([]byte) (int, error) }
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.off >= g.size {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), g.size-g.off)]
	for i := range p {
		x := uint64(g.off + int64(i))
		p[i] = byte(x*2654435761>>13 ^ x)
	}
	if g.atFn != nil && g.off < g.at && g.off+int64(len(p)) >= g.at {
		g.atFn()
	}
	g.off += int64(len(p))
	g.h.Write(p)
	return len(p), nil
}

func (s repoSuite) streaming(t *testing.T) {
	r := s.new(t)
	h := sha256.New()
	var midwayStored int64 = -1
	g := &genReader{size: s.bigSize, at: s.midway, h: h, atFn: func() {
		midwayStored = s.stored(t, "big/file.bin")
	}}
	if err := r.Put(t.Context(), "big/file.bin", g); err != nil {
		t.Fatal(err)
	}
	if g.off != s.bigSize {
		t.Fatalf("Put read %d bytes, want %d", g.off, s.bigSize)
	}
	// Streaming, not buffering: by the time the reader had given
	// `midway` bytes, a good part of them was already in the backend.
	if midwayStored < s.midway/4 {
		t.Errorf("when %d bytes were read, %d were stored: the upload is buffered, not streamed", s.midway, midwayStored)
	}
	want := h.Sum(nil)
	rc, err := r.Open(t.Context(), "big/file.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	h2 := sha256.New()
	n, err := io.Copy(h2, rc)
	if err != nil {
		t.Fatal(err)
	}
	if n != s.bigSize || !bytes.Equal(h2.Sum(nil), want) {
		t.Errorf("read back %d bytes (sha256 %x), want %d (%x)", n, h2.Sum(nil), s.bigSize, want)
	}
	if diff := cmp.Diff([]FileInfo{{Path: "big/file.bin", Size: s.bigSize}}, list(t, r, "big")); diff != "" {
		t.Errorf("List(big) (-want +got):\n%s", diff)
	}
}

func (s repoSuite) sub(t *testing.T) {
	r := s.new(t)
	ctx := t.Context()
	put(t, r, "1/abc/artifacts/outside-sub.txt", "no")
	run, err := Sub(r, "1/abc/artifacts/model")
	if err != nil {
		t.Fatal(err)
	}
	put(t, run, "MLmodel", "m")
	put(t, run, "data/x.bin", "xx")
	if got := read(t, r, "1/abc/artifacts/model/MLmodel"); got != "m" {
		t.Errorf("through the parent: %q", got)
	}
	if diff := cmp.Diff([]FileInfo{{Path: "MLmodel", Size: 1}, {Path: "data", IsDir: true}}, list(t, run, "")); diff != "" {
		t.Errorf("Sub List (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]FileInfo{{Path: "data/x.bin", Size: 2}}, list(t, run, "data")); diff != "" {
		t.Errorf("Sub List(data) (-want +got):\n%s", diff)
	}
	_, err = run.Open(ctx, "../outside-sub.txt")
	wantCode(t, "Sub Open(..)", err, tracking.InvalidParameterValue)
	if _, err := Sub(r, "../x"); tracking.CodeOf(err) != tracking.InvalidParameterValue {
		t.Errorf("Sub(../x): %v", err)
	}
	if err := run.Delete(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if got := list(t, run, ""); len(got) != 0 {
		t.Errorf("Sub after Delete(root): %v", got)
	}
	if got := read(t, r, "1/abc/artifacts/outside-sub.txt"); got != "no" {
		t.Errorf("Sub's Delete reached outside it: %q", got)
	}
}
