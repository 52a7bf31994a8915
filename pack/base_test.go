package pack

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// baseImage is a stand-in base: two layers, an environment, labels and a
// health check, for linux/amd64, with the given manifest media type.
func baseImage(t *testing.T, mt types.MediaType) v1.Image {
	t.Helper()
	img := mutate.MediaType(empty.Image, mt)
	layerType := types.DockerLayer
	if mt == types.OCIManifestSchema1 {
		img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
		layerType = types.OCILayer
	}
	for i := 0; i < 2; i++ {
		l, err := random.Layer(512, layerType)
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			t.Fatal(err)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Env = []string{"PATH=/custom/bin:/usr/bin", "LANG=C.UTF-8"}
	cf.Config.Labels = map[string]string{"base.label": "kept", LabelTitle: "overridden"}
	cf.Config.Healthcheck = &v1.HealthConfig{Test: []string{"CMD", "/healthcheck"}}
	cf.Config.Entrypoint = []string{"/bin/sh"}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return img
}

// A base from an OCI layout (oci:DIR, oci:DIR:REF, the bare directory), a
// docker tarball or a registry keeps its layers first and its environment
// and labels, loses its health check and entrypoint, and sets the media
// type of the layers added.
func TestBases(t *testing.T) {
	in := inputs(t)
	dir := t.TempDir()
	docker := baseImage(t, types.DockerManifestSchema2)
	oci := baseImage(t, types.OCIManifestSchema1)

	lp, err := layout.Write(filepath.Join(dir, "layout"), empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(oci, layout.WithAnnotations(map[string]string{annotationRefName: "base"})); err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(docker, layout.WithAnnotations(map[string]string{annotationRefName: "other"})); err != nil {
		t.Fatal(err)
	}
	single := filepath.Join(dir, "single")
	if _, err := layout.Write(single, mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: oci})); err != nil {
		t.Fatal(err)
	}
	tarPath := filepath.Join(dir, "base.tar")
	tag, _ := name.NewTag("example.com/base:1")
	if err := tarball.WriteToFile(tarPath, tag, docker); err != nil {
		t.Fatal(err)
	}
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer reg.Close()
	regRef := strings.TrimPrefix(reg.URL, "http://") + "/base:1"
	ref, _ := name.ParseReference(regRef)
	if err := remote.Write(ref, docker); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name, base string
		want       v1.Image
		baseName   string
	}{
		{"oci layout by name", "oci:" + filepath.Join(dir, "layout") + ":base", oci, ""},
		{"oci layout by name (docker)", "oci:" + filepath.Join(dir, "layout") + ":other", docker, ""},
		{"oci layout, one image", "oci:" + single, oci, ""},
		{"layout directory", single, oci, ""},
		{"docker tarball", tarPath, docker, ""},
		{"registry", regRef, docker, regRef},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := in.options()
			o.Base = tc.base
			img := build(t, o)
			if err := validate.Image(img); err != nil {
				t.Fatalf("validate: %v", err)
			}
			got, want := layerDigests(t, img), layerDigests(t, tc.want)
			if len(got) != len(want)+2 || got[0] != want[0] || got[1] != want[1] {
				t.Fatalf("layers %v; want the base's %v then two", got, want)
			}
			wantMT, _ := tc.want.MediaType()
			if mt, _ := img.MediaType(); mt != wantMT {
				t.Errorf("manifest media type %s, want the base's %s", mt, wantMT)
			}
			layers, _ := img.Layers()
			lmt, _ := layers[2].MediaType()
			if (wantMT == types.OCIManifestSchema1) != (lmt == types.OCILayer) {
				t.Errorf("added layer media type %s in a %s manifest", lmt, wantMT)
			}
			cf, _ := img.ConfigFile()
			c := cf.Config
			if c.Healthcheck != nil || c.Entrypoint[0] != "/opt/mlship/bin/mlship" {
				t.Errorf("health check %v, entrypoint %v", c.Healthcheck, c.Entrypoint)
			}
			if c.Env[0] != "PATH=/opt/mlship/bin:/custom/bin:/usr/bin" || c.Env[1] != "LANG=C.UTF-8" {
				t.Errorf("env %v", c.Env)
			}
			if c.Labels["base.label"] != "kept" || c.Labels[LabelTitle] != filepath.Base(in.model) {
				t.Errorf("labels %v", c.Labels)
			}
			if c.Labels[LabelBaseDigest] != digestOf(t, tc.want) || c.Labels[LabelBaseName] != tc.baseName {
				t.Errorf("base labels %q %q", c.Labels[LabelBaseName], c.Labels[LabelBaseDigest])
			}
		})
	}

	t.Run("ambiguous layout", func(t *testing.T) {
		o := in.options()
		o.Base = "oci:" + filepath.Join(dir, "layout")
		_, err := Build(context.Background(), o)
		if err == nil || !strings.Contains(err.Error(), "REF") {
			t.Fatalf("err = %v; want one asking for a name", err)
		}
	})
	t.Run("wrong platform", func(t *testing.T) {
		cf, _ := docker.ConfigFile()
		cf = cf.DeepCopy()
		cf.Architecture = "arm64"
		arm, _ := mutate.ConfigFile(docker, cf)
		p := filepath.Join(dir, "arm.tar")
		if err := tarball.WriteToFile(p, tag, arm); err != nil {
			t.Fatal(err)
		}
		o := in.options()
		o.Base = p
		_, err := Build(context.Background(), o)
		if err == nil || !strings.Contains(err.Error(), "linux/arm64") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("not an image", func(t *testing.T) {
		p := filepath.Join(dir, "junk")
		os.WriteFile(p, []byte("junk"), 0o644)
		o := in.options()
		o.Base = p
		if _, err := Build(context.Background(), o); err == nil {
			t.Fatal("junk accepted as a base")
		}
	})
}
