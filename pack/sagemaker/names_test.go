package sagemaker

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestUniqueName: names fit SageMaker's 63 characters; long bases are
// middle-truncated as MLflow's _truncate_name does.
func TestUniqueName(t *testing.T) {
	for _, tc := range []struct {
		base, suffix string
		want         *regexp.Regexp
	}{
		{"my-app", "-model-", regexp.MustCompile(`^my-app-model-[0-9a-f]{20}$`)},
		{"my-app", "-config-", regexp.MustCompile(`^my-app-config-[0-9a-f]{20}$`)},
		// 63 - len("-model-") - 20 = 36 = 16 + "---" + 17.
		{strings.Repeat("a", 35) + strings.Repeat("b", 35), "-model-",
			regexp.MustCompile(`^a{16}---b{17}-model-[0-9a-f]{20}$`)},
		{strings.Repeat("x", 36), "-model-", regexp.MustCompile(`^x{36}-model-[0-9a-f]{20}$`)},
	} {
		got := uniqueName(tc.base, tc.suffix)
		if !tc.want.MatchString(got) || len(got) > 63 {
			t.Errorf("uniqueName(%q, %q) = %q (%d characters)", tc.base, tc.suffix, got, len(got))
		}
	}
	if uniqueName("a", "-model-") == uniqueName("a", "-model-") {
		t.Error("two names alike")
	}
}

// TestModelTarballDeterministic: times, owners and permission bits beyond
// the executable bit do not change the tarball's bytes; content does.
func TestModelTarballDeterministic(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string, mode os.FileMode) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("MLmodel", "flavors: {}\n", 0o600)
	write("data/weights.bin", "0123", 0o644)
	write("bin/run", "#!/bin/sh\n", 0o700)
	tarball := func() []byte {
		var b bytes.Buffer
		if err := WriteModelTarball(&b, dir); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	first := tarball()
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	for _, p := range []string{"MLmodel", "data", "data/weights.bin", "bin/run"} {
		if err := os.Chtimes(filepath.Join(dir, p), old, old); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(dir, "MLmodel"), 0o644); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, tarball()) {
		t.Error("times or read bits changed the tarball")
	}
	write("data/weights.bin", "0124", 0o644)
	if bytes.Equal(first, tarball()) {
		t.Error("new content, same tarball")
	}
}
