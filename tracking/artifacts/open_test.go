package artifacts

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlship/mlship/tracking"
)

func TestOpenLocal(t *testing.T) {
	base := t.TempDir()
	t.Chdir(base)
	for _, tc := range []struct{ uri, dir string }{
		{filepath.Join(base, "abs"), filepath.Join(base, "abs")},
		{"mlruns/0/abc/artifacts", filepath.Join(base, "mlruns/0/abc/artifacts")},
		{"./rel", filepath.Join(base, "rel")},
		{"file://" + filepath.Join(base, "f1"), filepath.Join(base, "f1")},
		{"file://localhost" + filepath.Join(base, "f2"), filepath.Join(base, "f2")},
		{"file:" + filepath.Join(base, "f3"), filepath.Join(base, "f3")},
		{"file://" + filepath.Join(base, "with%20space"), filepath.Join(base, "with space")},
	} {
		r, err := Open(t.Context(), tc.uri, Options{})
		if err != nil {
			t.Errorf("Open(%q): %v", tc.uri, err)
			continue
		}
		l, ok := r.(*Local)
		if !ok || l.Dir() != tc.dir {
			t.Errorf("Open(%q) = %#v, want a local root at %s", tc.uri, r, tc.dir)
			continue
		}
		put(t, r, "x.txt", tc.uri)
		if b, err := os.ReadFile(filepath.Join(tc.dir, "x.txt")); err != nil || string(b) != tc.uri {
			t.Errorf("Open(%q): the file on disk: %q, %v", tc.uri, b, err)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	for _, tc := range []struct{ uri, want string }{
		{"", "empty"},
		{"gs://bucket/x", "not one of a local path, file:///path, s3://bucket/prefix, mlflow-artifacts:/path"},
		{"hdfs://nn/x", `scheme "hdfs"`},
		{"file://otherhost/x", "not host"},
		{"s3:///nobucket", "no bucket"},
		{"s3://bucket/x", "no AWS configuration"},
		{"mlflow-artifacts:/1/abc/artifacts", "--serve-artifacts"},
	} {
		_, err := Open(t.Context(), tc.uri, Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%q): %v, want an error saying %q", tc.uri, err, tc.want)
		}
	}
}

func TestOpenProxy(t *testing.T) {
	dest := t.TempDir()
	proxy := NewLocal(dest)
	for _, uri := range []string{
		"mlflow-artifacts:/1/abc/artifacts",
		"mlflow-artifacts:1/abc/artifacts",
		"mlflow-artifacts://127.0.0.1:5000/1/abc/artifacts",
	} {
		r, err := Open(t.Context(), uri, Options{ProxyRoot: proxy})
		if err != nil {
			t.Fatalf("Open(%q): %v", uri, err)
		}
		put(t, r, "model/MLmodel", uri)
		if b, err := os.ReadFile(filepath.Join(dest, "1/abc/artifacts/model/MLmodel")); err != nil || string(b) != uri {
			t.Errorf("Open(%q): the file under the destination: %q, %v", uri, b, err)
		}
	}
	for _, uri := range []string{
		"mlflow-artifacts:/../outside",
		"mlflow-artifacts:/1/%2e%2e/%2e%2e/..",
		"mlflow-artifacts:/1/%252e%252e/%252e%252e/x",
	} {
		_, err := Open(t.Context(), uri, Options{ProxyRoot: proxy})
		if tracking.CodeOf(err) != tracking.InvalidParameterValue {
			t.Errorf("Open(%q): %v, want Invalid path", uri, err)
		}
	}
}
