package pack

import (
	"bytes"
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func mustPlatform(t *testing.T) v1.Platform {
	t.Helper()
	p, err := parsePlatform("")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Each publisher returns the name pinned to the image's digest and leaves
// an image that reads back with that digest.
func TestPublishers(t *testing.T) {
	in := inputs(t)
	img := build(t, in.options())
	want := digestOf(t, img)
	ctx := context.Background()
	dir := t.TempDir()

	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer reg.Close()
	host := strings.TrimPrefix(reg.URL, "http://")
	ref, err := name.ParseReference(host + "/models/iris:1")
	if err != nil {
		t.Fatal(err)
	}

	var stream bytes.Buffer
	pubs := MultiPublisher{
		&Registry{},
		Layout{Dir: filepath.Join(dir, "layout")},
		Tarball{Path: filepath.Join(dir, "iris.tar")},
		Tarball{W: &stream},
	}
	d, err := pubs.Publish(ctx, img, ref)
	if err != nil {
		t.Fatal(err)
	}
	if d.String() != host+"/models/iris@"+want {
		t.Errorf("published as %s", d)
	}

	pulled, err := remote.Image(d)
	if err != nil {
		t.Fatal(err)
	}
	if got := digestOf(t, pulled); got != want {
		t.Errorf("registry: %s", got)
	}

	tag := ref.(name.Tag)
	fromTar, err := tarball.ImageFromPath(filepath.Join(dir, "iris.tar"), &tag)
	if err != nil {
		t.Fatal(err)
	}
	if got := digestOf(t, fromTar); got != want {
		t.Errorf("tarball: %s", got)
	}
	fromStream, err := tarball.Image(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(stream.Bytes())), nil }, &tag)
	if err != nil {
		t.Fatal(err)
	}
	if got := digestOf(t, fromStream); got != want {
		t.Errorf("tarball stream: %s", got)
	}

	// Publishing again under the same name replaces the layout's entry.
	o := in.options()
	o.Labels = map[string]string{"rebuilt": "yes"}
	img2 := build(t, o)
	if _, err := (Layout{Dir: filepath.Join(dir, "layout")}).Publish(ctx, img2, ref); err != nil {
		t.Fatal(err)
	}
	lp, _ := layout.FromPath(filepath.Join(dir, "layout"))
	idx, _ := lp.ImageIndex()
	im, _ := idx.IndexManifest()
	if len(im.Manifests) != 1 || im.Manifests[0].Digest.String() != digestOf(t, img2) ||
		im.Manifests[0].Annotations[annotationRefName] != "1" {
		t.Errorf("layout index: %+v", im.Manifests)
	}
	base, _, err := loadBase(ctx, "oci:"+filepath.Join(dir, "layout")+":1", mustPlatform(t), Options{})
	if err != nil || digestOf(t, base) != digestOf(t, img2) {
		t.Errorf("reading the layout back by name: %v", err)
	}

	// A directory that is not a layout is not written into.
	if _, err := (Layout{Dir: in.model}).Publish(ctx, img, ref); err == nil {
		t.Error("wrote a layout into the model directory")
	}
	// A digest reference cannot name a docker tarball.
	if _, err := (Tarball{Path: filepath.Join(dir, "x.tar")}).Publish(ctx, img, d); err == nil {
		t.Error("tarball accepted a digest reference")
	}
}

// countingTransport counts blob uploads started.
type countingTransport struct {
	mu      sync.Mutex
	uploads int
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/blobs/uploads/") {
		c.mu.Lock()
		c.uploads++
		c.mu.Unlock()
	}
	return http.DefaultTransport.RoundTrip(r)
}

// Pushing a model-only change to a registry that holds the previous image
// uploads the model layer and the config, nothing else.
func TestPushModelOnlyChangeUploadsOnlyTheModel(t *testing.T) {
	in := inputs(t)
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer reg.Close()
	host := strings.TrimPrefix(reg.URL, "http://")
	ctx := context.Background()
	ct := &countingTransport{}
	pub := &Registry{Transport: ct}

	ref1, _ := name.ParseReference(host + "/iris:1")
	if _, err := pub.Publish(ctx, build(t, in.options()), ref1); err != nil {
		t.Fatal(err)
	}
	if ct.uploads != 4 {
		t.Errorf("first push uploaded %d blobs, want 4 (3 layers and the config)", ct.uploads)
	}
	mlmodel := filepath.Join(in.model, "MLmodel")
	text, _ := os.ReadFile(mlmodel)
	os.WriteFile(mlmodel, []byte(strings.Replace(string(text), "6a1f0e2b", "7c1f0e2b", 1)), 0o644)
	ct.uploads = 0
	ref2, _ := name.ParseReference(host + "/iris:2")
	if _, err := pub.Publish(ctx, build(t, in.options()), ref2); err != nil {
		t.Fatal(err)
	}
	if ct.uploads != 2 {
		t.Errorf("pushing a model-only change uploaded %d blobs, want 2 (the model layer and the config)", ct.uploads)
	}
}
