package pack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// BaseHost names the base built from this machine's C runtime (see
// hostbase.go), the default.
const BaseHost = "host"

// baseInfo describes the base an image was built on, for its labels.
type baseInfo struct {
	name, digest string
}

// annotationRefName is the OCI layout annotation naming an image.
const annotationRefName = "org.opencontainers.image.ref.name"

// annotationContainerdName is the full name containerd (and nerdctl, and
// BuildKit's OCI exporter) record beside ref.name.
const annotationContainerdName = "io.containerd.image.name"

// loadBase reads a base image from anywhere but this machine's libraries:
// "oci:DIR" or "oci:DIR:REF" (an OCI image layout, REF selecting an image
// by its ref.name annotation), a directory holding an OCI layout, a file
// written by `docker save` (or crane/ggcr tarball), or a registry
// reference. Registry bases are pulled for platform.
func loadBase(ctx context.Context, spec string, platform v1.Platform, o Options) (v1.Image, baseInfo, error) {
	if rest, ok := strings.CutPrefix(spec, "oci:"); ok {
		dir, ref := rest, ""
		if _, err := os.Stat(dir); err != nil {
			if i := strings.LastIndex(rest, ":"); i > 0 {
				dir, ref = rest[:i], rest[i+1:]
			}
		}
		img, err := imageFromLayout(dir, ref, platform)
		if err != nil {
			return nil, baseInfo{}, fmt.Errorf("base image %s: %w", spec, err)
		}
		return img, infoOf(img, ""), nil
	}
	if st, err := os.Stat(spec); err == nil {
		if st.IsDir() {
			img, err := imageFromLayout(spec, "", platform)
			if err != nil {
				return nil, baseInfo{}, fmt.Errorf("base image %s: %w", spec, err)
			}
			return img, infoOf(img, ""), nil
		}
		img, err := tarball.ImageFromPath(spec, nil)
		if err != nil {
			return nil, baseInfo{}, fmt.Errorf("base image %s (read as a docker save tarball): %w", spec, err)
		}
		return img, infoOf(img, ""), nil
	}
	var nopts []name.Option
	if o.Insecure {
		nopts = append(nopts, name.Insecure)
	}
	ref, err := name.ParseReference(spec, nopts...)
	if err != nil {
		return nil, baseInfo{}, fmt.Errorf("base image %q is not a file, a directory or an image reference: %w", spec, err)
	}
	img, err := remote.Image(ref, append(o.remoteOptions(ctx), remote.WithPlatform(platform))...)
	if err != nil {
		return nil, baseInfo{}, fmt.Errorf("pulling base image %s (offline, use --base-image host, an OCI layout or a tarball): %w", ref, err)
	}
	return img, infoOf(img, ref.Context().Name()+":"+refIdentifier(ref)), nil
}

func refIdentifier(ref name.Reference) string {
	if t, ok := ref.(name.Tag); ok {
		return t.TagStr()
	}
	return ref.Identifier()
}

func infoOf(img v1.Image, ref string) baseInfo {
	info := baseInfo{name: ref}
	if d, err := img.Digest(); err == nil {
		info.digest = d.String()
	}
	return info
}

// imageFromLayout picks one image from an OCI layout: the one named ref
// (its ref.name or containerd name annotation) when given, else the one for
// platform, else the only one.
func imageFromLayout(dir, ref string, platform v1.Platform) (v1.Image, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("not an OCI image layout: %w", err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return nil, err
	}
	type candidate struct {
		img  v1.Image
		desc v1.Descriptor
	}
	var all []candidate
	var walk func(idx v1.ImageIndex, named map[string]string) error
	walk = func(idx v1.ImageIndex, named map[string]string) error {
		m, err := idx.IndexManifest()
		if err != nil {
			return err
		}
		for _, d := range m.Manifests {
			ann := d.Annotations
			if ann == nil {
				ann = named // platform manifests inherit their index's name
			}
			switch {
			case d.MediaType.IsIndex():
				child, err := idx.ImageIndex(d.Digest)
				if err != nil {
					return err
				}
				if err := walk(child, ann); err != nil {
					return err
				}
			case d.MediaType.IsImage():
				img, err := idx.Image(d.Digest)
				if err != nil {
					return err
				}
				d.Annotations = ann
				all = append(all, candidate{img, d})
			}
		}
		return nil
	}
	if err := walk(idx, nil); err != nil {
		return nil, err
	}
	var named []candidate
	for _, c := range all {
		if ref == "" || c.desc.Annotations[annotationRefName] == ref || c.desc.Annotations[annotationContainerdName] == ref {
			named = append(named, c)
		}
	}
	if len(named) == 0 {
		if ref != "" {
			return nil, fmt.Errorf("no image named %q in %s", ref, filepath.Clean(dir))
		}
		return nil, errors.New("the layout holds no image")
	}
	var match []candidate
	for _, c := range named {
		plat := c.desc.Platform
		if plat == nil {
			if cf, err := c.img.ConfigFile(); err == nil {
				plat = cf.Platform()
			}
		}
		if plat != nil && plat.OS == platform.OS && plat.Architecture == platform.Architecture {
			match = append(match, c)
		}
	}
	switch {
	case len(match) == 1:
		return match[0].img, nil
	case len(match) == 0 && len(named) == 1:
		return named[0].img, nil // checked against the platform by the caller
	case len(match) == 0:
		return nil, fmt.Errorf("no image for %s among %d", platform.String(), len(named))
	default:
		return nil, fmt.Errorf("%d images for %s: name one with oci:%s:REF", len(match), platform.String(), dir)
	}
}
