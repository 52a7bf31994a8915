package native

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestFind(t *testing.T) {
	if _, err := Find(env(map[string]string{EnvLib: "/nonexistent/libtensorflow.so.2"})); err == nil || !strings.Contains(err.Error(), "/nonexistent/libtensorflow.so.2") {
		t.Errorf("missing MLSHIP_TENSORFLOW_LIB: %v", err)
	}
	dir := t.TempDir()
	lib := filepath.Join(dir, LibName)
	if err := os.WriteFile(lib, []byte("not a library"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := Find(env(map[string]string{"LD_LIBRARY_PATH": "/nowhere:" + dir})); err != nil || got != lib {
		t.Errorf("LD_LIBRARY_PATH: %q %v", got, err)
	}
	if got, err := Find(env(map[string]string{EnvLib: lib})); err != nil || got != lib {
		t.Errorf("MLSHIP_TENSORFLOW_LIB: %q %v", got, err)
	}
	if p, err := Find(nil); err == nil {
		t.Skipf("this machine has %s; the absent case is not checked", p)
	} else if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), EnvLib) {
		t.Errorf("absent: %v", err)
	}
}
