package pyenv

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mlship/mlship/internal/testenv"
)

// helperEnv selects the helper mode of the test binary: a separate OS
// process running one Prepare, so tests can race two processes for one
// environment or kill a build mid-way.
const (
	helperEnv     = "MLSHIP_PYENV_TEST_HELPER"
	helperOptsEnv = "MLSHIP_PYENV_TEST_OPTIONS"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "prepare" {
		os.Exit(helperPrepare())
	}
	os.Exit(m.Run())
}

// helperOptions is the part of Options a helper process receives.
type helperOptions struct {
	Manager            string
	ModelDir           string
	CacheDir           string
	PipFindLinks       []string
	SystemSitePackages bool
	Require            []string
}

// helperPrepare runs Prepare with options from the environment, logs JSON
// to stderr and prints the Env as JSON on stdout.
func helperPrepare() int {
	var ho helperOptions
	if err := json.Unmarshal([]byte(os.Getenv(helperOptsEnv)), &ho); err != nil {
		fmt.Fprintln(os.Stderr, "helper: bad options:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	env, err := Prepare(ctx, Options{
		Manager: ho.Manager, ModelDir: ho.ModelDir, CacheDir: ho.CacheDir, PipFindLinks: ho.PipFindLinks,
		SystemSitePackages: ho.SystemSitePackages, Require: ho.Require, Getenv: testGetenv,
		Logger: slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper: prepare:", err)
		return 1
	}
	_ = json.NewEncoder(os.Stdout).Encode(env)
	return 0
}

// helperCmd is a helper process for ho.
func helperCmd(t *testing.T, ho helperOptions) (*exec.Cmd, *bytes.Buffer, *testenv.SyncBuffer) {
	t.Helper()
	data, err := json.Marshal(ho)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=prepare", helperOptsEnv+"="+string(data))
	var stdout bytes.Buffer
	stderr := &testenv.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	return cmd, &stdout, stderr
}

// testGetenv is the real environment without proxies: tests talk to
// 127.0.0.1 only, and a proxy would intercept pip's find-links requests.
func testGetenv(k string) string {
	if strings.Contains(strings.ToLower(k), "proxy") {
		return ""
	}
	return os.Getenv(k)
}

// envWith is a Getenv holding exactly kv (key, value, key, value...).
func envWith(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

// testLogger logs everything, debug included, into a buffer the test
// inspects (and prints when it fails).
func testLogger(t *testing.T) (*slog.Logger, *testenv.SyncBuffer) {
	t.Helper()
	buf := &testenv.SyncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", buf.String())
		}
	})
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// systemPython is Debian's /usr/bin/python3 with numpy and pandas, the
// interpreter python_function models run on here; it returns its path and
// version. Missing (a failure under CI) when absent.
func systemPython(t *testing.T) (path, version string) {
	t.Helper()
	const py = "/usr/bin/python3"
	if !isExecutable(py) {
		testenv.Missing(t, py+" not found (apt-get install python3)")
	}
	out, err := exec.Command(py, "-c", "import numpy, pandas, sys; print('%d.%d.%d' % sys.version_info[:3])").CombinedOutput()
	if err != nil {
		testenv.Missing(t, py+" cannot import numpy and pandas (apt-get install python3-numpy python3-pandas): "+strings.TrimSpace(string(out)))
	}
	return py, strings.TrimSpace(string(out))
}

// requireVenv fails or skips unless `python3 -m venv` can bootstrap pip.
func requireVenv(t *testing.T, py string) {
	t.Helper()
	if out, err := exec.Command(py, "-c", "import venv, ensurepip").CombinedOutput(); err != nil {
		testenv.Missing(t, py+" -m venv needs ensurepip (apt-get install python3-venv): "+strings.TrimSpace(string(out)))
	}
}

// writeWheel writes a pure-Python wheel holding one module into dir and
// returns its file name: the offline tests' stand-in for a PyPI download.
func writeWheel(t *testing.T, dir, dist, module, source string) string {
	t.Helper()
	name := dist + "-1.0-py3-none-any.whl"
	info := dist + "-1.0.dist-info"
	files := []struct{ path, body string }{
		{module + "/__init__.py", source},
		{info + "/METADATA", "Metadata-Version: 2.1\nName: " + dist + "\nVersion: 1.0\n"},
		{info + "/WHEEL", "Wheel-Version: 1.0\nGenerator: mlship-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"},
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	var record strings.Builder
	for _, f := range files {
		w, err := zw.Create(f.path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(f.body)); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(f.body))
		fmt.Fprintf(&record, "%s,sha256=%s,%d\n", f.path, base64.RawURLEncoding.EncodeToString(sum[:]), len(f.body))
	}
	record.WriteString(info + "/RECORD,,\n")
	w, err := zw.Create(info + "/RECORD")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(record.String())); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

// writeFiles writes name → content files into a new temporary directory.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// wantContains fails unless s holds every part.
func wantContains(t *testing.T, what, s string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(s, p) {
			t.Errorf("%s %q\ndoes not contain %q", what, s, p)
		}
	}
}
