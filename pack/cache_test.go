package pack

import (
	"debug/elf"
	"os"
	"path/filepath"
	"testing"
)

// The layer cache changes how long a build takes, never what it makes: the
// same digest with or without it, with a damaged entry rebuilt, and at most
// cacheKeep entries kept.
func TestLayerCache(t *testing.T) {
	in := inputs(t)
	want := digestOf(t, build(t, in.options()))
	dir := filepath.Join(t.TempDir(), "layers")
	o := in.options()
	o.LayerCache = dir
	for i := 0; i < 2; i++ {
		if got := digestOf(t, build(t, o)); got != want {
			t.Fatalf("build %d through the cache: %s, want %s", i, got, want)
		}
	}
	entries, _ := filepath.Glob(filepath.Join(dir, "*.tar.gz"))
	if len(entries) != 2 {
		t.Fatalf("cache holds %v, want the host base and the runtime", entries)
	}

	// Damage both entries: they are noticed and rebuilt.
	for _, e := range entries {
		if err := os.WriteFile(e, []byte("not gzip"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got := digestOf(t, build(t, o)); got != want {
		t.Fatalf("after damage: %s, want %s", got, want)
	}
	for _, e := range entries {
		if st, err := os.Stat(e); err != nil || st.Size() < 100 {
			t.Errorf("%s not rebuilt: %v", e, err)
		}
	}

	// Other native libraries make other runtime layers; old ones go.
	for _, lib := range []string{"libc.so.6", "libgcc_s.so.1", "libstdc++.so.6"} {
		p, err := findLib(lib, systemLibDirs["amd64"], elf.EM_X86_64)
		if err != nil {
			t.Skipf("no %s here", lib)
		}
		o2 := o
		o2.Getenv = func(k string) string {
			if k == "MLSHIP_ONNXRUNTIME_LIB" {
				return p
			}
			return ""
		}
		build(t, o2)
	}
	metas, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(metas) > cacheKeep {
		t.Errorf("cache keeps %d entries, want at most %d", len(metas), cacheKeep)
	}
}
