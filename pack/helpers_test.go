package pack

import (
	"archive/tar"
	"context"
	"debug/elf"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/mlship/mlship/internal/testenv"
)

// testInputs are real inputs for builds that need no ONNX Runtime: the
// test binary stands in for mlship (an amd64 ELF program) and the host's
// libm for libonnxruntime.so.1 (an ELF shared library with dependencies of
// its own). What the builder does with them does not depend on what they
// are.
type testInputs struct {
	model  string
	binary string
	lib    string
}

func inputs(t *testing.T) testInputs {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	lib, err := findLib("libm.so.6", systemLibDirs["amd64"], elf.EM_X86_64)
	if err != nil {
		testenv.Missing(t, "a glibc libm.so.6 for amd64 is needed as a stand-in native library: "+err.Error())
	}
	return testInputs{
		model:  testenv.CopyDir(t, filepath.Join(testenv.RepoRoot(t), "examples", "iris-onnx", "model")),
		binary: exe,
		lib:    lib,
	}
}

func (in testInputs) options() Options {
	return Options{
		Model:  in.model,
		Binary: in.binary,
		Getenv: func(k string) string {
			if k == "MLSHIP_ONNXRUNTIME_LIB" {
				return in.lib
			}
			return ""
		},
		Version: "1.2.3-test",
	}
}

func build(t *testing.T, o Options) v1.Image {
	t.Helper()
	img, err := Build(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func digestOf(t *testing.T, x interface{ Digest() (v1.Hash, error) }) string {
	t.Helper()
	d, err := x.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

func layerDigests(t *testing.T, img v1.Image) []string {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range layers {
		out = append(out, digestOf(t, l))
	}
	return out
}

// tarEntry is a layer entry as a test compares it.
type tarEntry struct {
	Type     byte
	Mode     int64
	UID, GID int
	Size     int64
	Link     string
	ModTime  int64
}

func readLayer(t *testing.T, l v1.Layer) (map[string]tarEntry, []string) {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	entries := map[string]tarEntry{}
	var order []string
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		entries[h.Name] = tarEntry{h.Typeflag, h.Mode, h.Uid, h.Gid, h.Size, h.Linkname, h.ModTime.Unix()}
		order = append(order, h.Name)
	}
	return entries, order
}
