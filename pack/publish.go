package pack

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/match"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Publisher puts an image somewhere under a name and returns the name
// pinned to the image's digest, which is what a deployer should run.
type Publisher interface {
	Publish(ctx context.Context, img v1.Image, ref name.Reference) (name.Digest, error)
}

// Registry pushes to the registry ref names.
type Registry struct {
	// Keychain authenticates; nil: authn.DefaultKeychain, which reads the
	// docker config ($DOCKER_CONFIG/config.json, ~/.docker/config.json)
	// and runs the credential helpers it names.
	Keychain authn.Keychain
	// Insecure allows plain HTTP and unverified TLS. Loopback registries
	// (localhost, 127.0.0.1, ::1) are spoken to over HTTP anyway.
	Insecure bool
	// Transport carries the requests; nil: remote.DefaultTransport.
	Transport http.RoundTripper
	// Jobs is how many blobs are uploaded at once; 0: ggcr's default.
	Jobs int
	// Logger receives progress; nil: discarded.
	Logger *slog.Logger
}

var _ Publisher = (*Registry)(nil)

// Publish implements Publisher.
func (r *Registry) Publish(ctx context.Context, img v1.Image, ref name.Reference) (name.Digest, error) {
	if r.Insecure {
		var err error
		if ref, err = name.ParseReference(ref.String(), name.Insecure); err != nil {
			return name.Digest{}, err
		}
	}
	kc := r.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(kc)}
	if t := transport(r.Transport, r.Insecure); t != nil {
		opts = append(opts, remote.WithTransport(t))
	}
	if r.Jobs > 0 {
		opts = append(opts, remote.WithJobs(r.Jobs))
	}
	if err := remote.Write(ref, img, opts...); err != nil {
		return name.Digest{}, fmt.Errorf("pushing %s: %w", ref, err)
	}
	d, err := pinned(img, ref)
	if err == nil && r.Logger != nil {
		r.Logger.Info("pushed", "image", d.String())
	}
	return d, err
}

// Layout writes into an OCI image layout directory (created if needed),
// naming the image with the org.opencontainers.image.ref.name annotation
// (the tag, as skopeo's oci:DIR:TAG reads it) and containerd's full name.
// An image already there under the same name is replaced.
type Layout struct {
	Dir string
}

var _ Publisher = Layout{}

// Publish implements Publisher.
func (l Layout) Publish(ctx context.Context, img v1.Image, ref name.Reference) (name.Digest, error) {
	if err := ctx.Err(); err != nil {
		return name.Digest{}, err
	}
	p, err := layout.FromPath(l.Dir)
	if err != nil {
		// Only a new or empty directory becomes a layout: index.json is
		// not written over someone else's files.
		if ents, rerr := os.ReadDir(l.Dir); rerr == nil && len(ents) > 0 {
			return name.Digest{}, fmt.Errorf("%s is neither an OCI image layout nor empty: %w", l.Dir, err)
		}
		if p, err = layout.Write(l.Dir, empty.Index); err != nil {
			return name.Digest{}, fmt.Errorf("creating OCI layout %s: %w", l.Dir, err)
		}
	}
	refName := refIdentifier(ref)
	ann := map[string]string{annotationRefName: refName, annotationContainerdName: ref.Name()}
	if err := p.ReplaceImage(img, match.Annotation(annotationContainerdName, ref.Name()), layout.WithAnnotations(ann)); err != nil {
		return name.Digest{}, fmt.Errorf("writing OCI layout %s: %w", l.Dir, err)
	}
	return pinned(img, ref)
}

// Tarball writes a `docker save` archive that `docker load` (and podman,
// and ggcr) read, tagged with ref. It is written next to Path and renamed
// into place when complete. With W set, it is written there instead.
type Tarball struct {
	Path string
	W    io.Writer
}

var _ Publisher = Tarball{}

// Publish implements Publisher.
func (t Tarball) Publish(ctx context.Context, img v1.Image, ref name.Reference) (name.Digest, error) {
	if err := ctx.Err(); err != nil {
		return name.Digest{}, err
	}
	tag, ok := ref.(name.Tag)
	if !ok {
		return name.Digest{}, fmt.Errorf("a docker tarball needs a tag, not %s", ref)
	}
	if t.W != nil {
		if err := tarball.Write(tag, img, t.W); err != nil {
			return name.Digest{}, fmt.Errorf("writing the image tarball: %w", err)
		}
		return pinned(img, ref)
	}
	f, err := os.CreateTemp(filepath.Dir(t.Path), "."+filepath.Base(t.Path)+".*.tmp")
	if err != nil {
		return name.Digest{}, fmt.Errorf("writing %s: %w", t.Path, err)
	}
	defer os.Remove(f.Name())
	werr := tarball.Write(tag, img, f)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		return name.Digest{}, fmt.Errorf("writing %s: %w", t.Path, err)
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return name.Digest{}, err
	}
	if err := os.Rename(f.Name(), t.Path); err != nil {
		return name.Digest{}, fmt.Errorf("writing %s: %w", t.Path, err)
	}
	return pinned(img, ref)
}

// MultiPublisher publishes to each in turn, stopping at the first error.
// It returns the first publisher's name.
type MultiPublisher []Publisher

// Publish implements Publisher.
func (m MultiPublisher) Publish(ctx context.Context, img v1.Image, ref name.Reference) (name.Digest, error) {
	var first name.Digest
	for i, p := range m {
		d, err := p.Publish(ctx, img, ref)
		if err != nil {
			return name.Digest{}, err
		}
		if i == 0 {
			first = d
		}
	}
	if len(m) == 0 {
		return pinned(img, ref)
	}
	return first, nil
}

func pinned(img v1.Image, ref name.Reference) (name.Digest, error) {
	d, err := img.Digest()
	if err != nil {
		return name.Digest{}, err
	}
	return ref.Context().Digest(d.String()), nil
}

// transport is base, or remote.DefaultTransport, without TLS verification
// when insecure; nil when neither applies.
func transport(base http.RoundTripper, insecure bool) http.RoundTripper {
	if !insecure {
		return base
	}
	if base == nil {
		base = remote.DefaultTransport
	}
	t, ok := base.(*http.Transport)
	if !ok {
		return base
	}
	t = t.Clone()
	if t.TLSClientConfig == nil {
		t.TLSClientConfig = &tls.Config{}
	}
	t.TLSClientConfig.InsecureSkipVerify = true //nolint:gosec // asked for with --insecure-registry
	return t
}
