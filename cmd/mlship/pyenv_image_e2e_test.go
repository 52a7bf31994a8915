package main_test

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/mlship/mlship/internal/testenv"
)

// debianPythonEnv lays out a self-contained Python environment from this
// machine's Debian Python, as a user would prepare one for --python-env:
// the interpreter at bin/python3, its standard library at lib/python3.11
// (without its test suite) and the packages the sklearn example needs at
// lib/python3/dist-packages, where Debian's site.py looks under the
// interpreter's prefix. Symbolic links are copied as the files they name.
// It skips when the Debian packages are missing.
func debianPythonEnv(t *testing.T) string {
	t.Helper()
	const (
		interp = "/usr/bin/python3.11"
		stdlib = "/usr/lib/python3.11"
		dist   = "/usr/lib/python3/dist-packages"
	)
	pkgs := []string{"numpy", "pandas", "sklearn", "scipy", "joblib", "threadpoolctl.py", "cloudpickle", "pytz", "dateutil", "six.py", "tzdata"}
	optional := map[string]bool{"tzdata": true}
	for _, p := range append([]string{interp, stdlib}, filepath.Join(dist, "sklearn"), filepath.Join(dist, "pandas")) {
		if _, err := os.Stat(p); err != nil {
			testenv.Missing(t, "a Python environment from Debian's packages needs python3.11, python3-sklearn, python3-pandas and python3-cloudpickle: "+err.Error())
		}
	}
	dir := filepath.Join(t.TempDir(), "pyenv")
	copyFollowing(t, interp, filepath.Join(dir, "bin", "python3"), nil)
	copyFollowing(t, stdlib, filepath.Join(dir, "lib", "python3.11"), func(rel string) bool {
		return rel == "test" || strings.HasPrefix(rel, "config-") || rel == "idlelib" || rel == "tkinter" || rel == "ensurepip"
	})
	for _, p := range pkgs {
		src := filepath.Join(dist, p)
		if _, err := os.Stat(src); err != nil {
			if optional[p] {
				continue
			}
			testenv.Missing(t, "the Python environment needs Debian's "+p+": "+err.Error())
		}
		copyFollowing(t, src, filepath.Join(dir, "lib", "python3", "dist-packages", p), nil)
	}
	return dir
}

// copyFollowing copies src (a file or a tree) to dst, following symbolic
// links and leaving out dangling ones and the top-level entries skip names.
func copyFollowing(t *testing.T, src, dst string, skip func(rel string) bool) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if skip != nil && rel != "." && skip(rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		st, err := os.Stat(p)
		if err != nil {
			return nil // dangling link
		}
		out := filepath.Join(dst, rel)
		switch {
		case st.IsDir() && d.IsDir():
			return os.MkdirAll(out, 0o755)
		case st.IsDir():
			copyFollowing(t, p, out, nil) // a link to a directory
			return nil
		case st.Mode().IsRegular():
			if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
				return err
			}
			in, err := os.Open(p)
			if err != nil {
				return err
			}
			defer in.Close()
			f, err := os.OpenFile(out, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, st.Mode().Perm())
			if err != nil {
				return err
			}
			if _, err := io.Copy(f, in); err != nil {
				f.Close()
				return err
			}
			return f.Close()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A python_function-only model (the scikit-learn example) is packed with a
// prepared Python environment, and the image serves it under chroot as
// the image's user: its interpreter, extension modules and their system
// libraries (libopenblas, libgfortran, libexpat, libffi, ...) all come
// from the image.
func TestBuildDockerPythonEnvServesUnderChroot(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Missing(t, "running the image under chroot needs root")
	}
	env := debianPythonEnv(t)
	bin := buildBinary(t)
	root := testenv.RepoRoot(t)
	model := filepath.Join(root, "examples", "sklearn-iris", "model")
	tarPath := filepath.Join(t.TempDir(), "sklearn.tar")
	cache := []string{"MLSHIP_CACHE_DIR=" + t.TempDir()}

	// Without an environment, the refusal says how to give one.
	code, _, stderr := run(t, bin, cache, "build-docker", "-m", model, "-n", "sklearn-iris:e2e")
	if code == 0 || !strings.Contains(stderr, "--python-env") {
		t.Fatalf("build-docker of a python_function model without --python-env: exit %d\n%s", code, stderr)
	}

	start := time.Now()
	code, stdout, stderr := run(t, bin, cache, "build-docker", "-m", model, "-n", "sklearn-iris:e2e", "--python-env", env, "--tarball", tarPath)
	if code != 0 {
		t.Fatalf("build-docker --python-env: exit %d\n%s%s", code, stdout, stderr)
	}
	t.Logf("cold build (tarball written) in %s:\n%s", time.Since(start).Round(time.Millisecond), stdout)
	first := digestLine.FindStringSubmatch(stdout)

	// Again, from the layer cache: the same digest.
	start = time.Now()
	code, stdout, stderr = run(t, bin, cache, "build-docker", "-m", model, "-n", "sklearn-iris:e2e", "--python-env", env)
	if code != 0 {
		t.Fatalf("second build: exit %d\n%s%s", code, stdout, stderr)
	}
	t.Logf("cached build in %s", time.Since(start).Round(time.Millisecond))
	if second := digestLine.FindStringSubmatch(stdout); first == nil || second == nil || first[1] != second[1] {
		t.Errorf("digests differ between builds: %v, %v", first, second)
	}

	tag, _ := name.NewTag("sklearn-iris:e2e")
	img, err := tarball.ImageFromPath(tarPath, &tag)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := cf.Config.Labels["io.mlship.flavor"]; got != "python_function" {
		t.Errorf("io.mlship.flavor = %q", got)
	}
	if !contains(cf.Config.Env, "MLSHIP_PYTHON=/opt/mlship/python/bin/python3") {
		t.Errorf("env %v lacks MLSHIP_PYTHON", cf.Config.Env)
	}

	url, logs, stop := startImage(t, img, true)

	var expected struct {
		Request  json.RawMessage `json:"invocations_request"`
		Response string          `json:"invocations_response"`
	}
	data, err := os.ReadFile(filepath.Join(root, "examples", "sklearn-iris", "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &expected); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(url+"/invocations", "application/json", strings.NewReader(string(expected.Request)))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("invocations: %d %s\n%s", resp.StatusCode, out, logs.String())
	}
	var got, want any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if err := json.Unmarshal([]byte(expected.Response), &want); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("invocations = %s, want %s", out, expected.Response)
	}
	stop()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ociDevices makes the device nodes every OCI runtime provides in a
// container's /dev (runtime-spec, "Default Devices"): Python's workers are
// started with /dev/null as their standard input.
func ociDevices(t *testing.T, rootfs string) {
	t.Helper()
	dev := filepath.Join(rootfs, "dev")
	if err := os.MkdirAll(dev, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []struct {
		name         string
		major, minor uint32
	}{{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}} {
		p := filepath.Join(dev, d.name)
		if err := syscall.Mknod(p, syscall.S_IFCHR|0o666, int(unix.Mkdev(d.major, d.minor))); err != nil {
			t.Fatalf("mknod %s: %v", p, err)
		}
		if err := os.Chmod(p, 0o666); err != nil {
			t.Fatal(err)
		}
	}
}

// startImage runs the image's entrypoint with `serve` under chroot in its
// unpacked root filesystem, as the image's user, on a free loopback port,
// and waits for /ping to answer 200. devices adds the /dev a container
// runtime provides (Python workers need /dev/null; native images must run
// without it). stop sends SIGTERM and checks the server drains and exits 0
// within SageMaker's 30 s.
func startImage(t *testing.T, img v1.Image, devices bool) (url string, logs *lockedLog, stop func()) {
	t.Helper()
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	unpack(t, img, rootfs)
	if devices {
		ociDevices(t, rootfs)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	port := testenv.FreePort(t)
	var env []string
	for _, kv := range c.Env {
		if strings.HasPrefix(kv, "MLSHIP_HOST=") {
			kv = "MLSHIP_HOST=127.0.0.1" // tests listen on loopback only
		}
		env = append(env, kv)
	}
	env = append(env, "SAGEMAKER_BIND_TO_PORT="+strconv.Itoa(port))
	uid, gid := userIDs(t, c.User)
	cmd := &exec.Cmd{
		Path: c.Entrypoint[0],
		Args: append(append([]string{}, c.Entrypoint...), "serve"),
		Env:  env,
		Dir:  c.WorkingDir,
		SysProcAttr: &syscall.SysProcAttr{
			Chroot:     rootfs,
			Credential: &syscall.Credential{Uid: uid, Gid: gid},
		},
	}
	logs = &lockedLog{}
	cmd.Stdout, cmd.Stderr = logs, logs
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
	})
	url = fmt.Sprintf("http://127.0.0.1:%d", port)
	for {
		resp, err := http.Get(url + "/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("the image's server exited: %v\n%s", err, logs.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Since(start) > 120*time.Second {
			t.Fatalf("not ready after 120 s\n%s", logs.String())
		}
	}
	t.Logf("container start to ready (/ping 200): %s", time.Since(start).Round(time.Millisecond))
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if !regexp.MustCompile(`(?m)^Uid:\s+65532\s`).Match(status) {
		t.Errorf("server not running as 65532:\n%s", status)
	}
	stop = func() {
		t.Helper()
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-exited:
			if err != nil {
				t.Fatalf("exit after SIGTERM: %v\n%s", err, logs.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("still running 30 s after SIGTERM (SageMaker's limit)\n%s", logs.String())
		}
	}
	return url, logs, stop
}
