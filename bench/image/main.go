// Command image measures `mlship build-docker` on a model: compressed image
// size, build time without a daemon (fresh process, no layer cache), the
// rebuild after a model-only change (and which layers it changes), pushes
// to a real registry (Debian's docker-registry on 127.0.0.1), and the time
// from starting the image's entrypoint under chroot to /ping answering 200.
// It prints a Markdown report. bench/image.sh builds and runs it.
package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/mlship/mlship/internal/ortlib"
)

var (
	mlship = flag.String("mlship", "bin/mlship", "mlship binary (also the one put in the image)")
	model  = flag.String("model", "examples/iris-onnx/model", "model directory")
	runs   = flag.Int("runs", 5, "repetitions of each timed step")
)

var (
	builtIn  = regexp.MustCompile(`(?m)^built in (\S+)$`)
	sizeLine = regexp.MustCompile(`(?m)^size +(.*) compressed \((\d+) bytes; (.*)\)$`)
)

type build struct {
	wall, built time.Duration
	bytes       int64
	layers      string
}

func main() {
	log.SetFlags(0)
	flag.Parse()
	work, err := os.MkdirTemp("", "mlship-imagebench-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(work)

	// The children find ONNX Runtime where mlship would, and keep their
	// layer cache in the work directory, not the user's.
	if os.Getenv(ortlib.EnvVar) == "" {
		home, _ := os.UserHomeDir()
		cache := os.Getenv("MLSHIP_CACHE_DIR")
		if cache == "" {
			cache = filepath.Join(home, ".cache", "mlship")
		}
		lib, err := ortlib.Find(ortlib.SearchFor(os.Getenv, cache))
		if err != nil {
			log.Fatal(err)
		}
		os.Setenv(ortlib.EnvVar, lib)
	}
	os.Setenv("MLSHIP_CACHE_DIR", filepath.Join(work, "cache"))

	fmt.Printf("- model: `%s`; mlship binary: `%s` (%s)\n", *model, *mlship, fileSize(*mlship))
	fmt.Printf("- every build is a new `mlship build-docker` process (inputs in the page cache); %d runs per step, median [min–max]\n\n", *runs)

	// Cold builds (no layer cache), written to a fresh OCI layout each time.
	var cold []build
	for i := 0; i < *runs; i++ {
		cold = append(cold, buildDocker(*model, "--no-layer-cache", "-n", "iris:bench", "--oci-layout", filepath.Join(work, fmt.Sprintf("cold%d", i))))
	}
	base := cold[0]
	// A model-only change: a retrained model (new uuid, new file).
	changed := filepath.Join(work, "model")
	copyDir(*model, changed)
	mlmodel := filepath.Join(changed, "MLmodel")
	text, _ := os.ReadFile(mlmodel)
	text = regexp.MustCompile(`model_uuid: \S+`).ReplaceAll(text, []byte("model_uuid: 0123456789abcdef0123456789abcdef"))
	os.WriteFile(mlmodel, text, 0o644)
	os.WriteFile(filepath.Join(changed, "notes.txt"), []byte("retrained\n"), 0o644)
	var rebuild, cached []build
	for i := 0; i < *runs; i++ {
		rebuild = append(rebuild, buildDocker(changed, "--no-layer-cache", "-n", "iris:bench2", "--oci-layout", filepath.Join(work, "cold0")))
	}
	diff := layerDiff(filepath.Join(work, "cold0"))
	// With the layer cache, filled by one build of the original model.
	buildDocker(*model, "-n", "iris:bench")
	for i := 0; i < *runs; i++ {
		cached = append(cached, buildDocker(changed, "-n", "iris:bench2", "--oci-layout", filepath.Join(work, "cached")))
	}

	fmt.Println("| step | wall time (process) | of which building | compressed size |")
	fmt.Println("| --- | ---: | ---: | ---: |")
	fmt.Printf("| cold build → OCI layout | %s | %s | %s (%d B) |\n", stats(walls(cold)), stats(builts(cold)), mib(base.bytes), base.bytes)
	fmt.Printf("| rebuild after a model-only change, no layer cache | %s | %s | %s |\n", stats(walls(rebuild)), stats(builts(rebuild)), mib(rebuild[0].bytes))
	fmt.Printf("| rebuild after a model-only change, layer cache | %s | %s | %s |\n", stats(walls(cached)), stats(builts(cached)), mib(cached[0].bytes))
	fmt.Println()
	fmt.Printf("- layers: %s\n", base.layers)
	fmt.Printf("- model-only change: %s\n", diff)

	if reg, stop, err := startRegistry(work); err != nil {
		fmt.Printf("- registry pushes: not measured (%v)\n", err)
	} else {
		first := buildDocker(*model, "--no-layer-cache", "-n", reg+"/iris:1", "--push")
		second := buildDocker(changed, "-n", reg+"/iris:2", "--push")
		stop()
		fmt.Printf("- push to an empty docker-registry on 127.0.0.1 (build + push, one process): %s (building %s)\n", first.wall.Round(time.Millisecond), first.built.Round(time.Millisecond))
		fmt.Printf("- push of the model-only change to the same registry (layer cache; only the model layer and config are uploaded): %s (building %s)\n", second.wall.Round(time.Millisecond), second.built.Round(time.Millisecond))
	}

	if os.Geteuid() != 0 {
		fmt.Println("- start to ready: not measured (chroot needs root)")
		return
	}
	rootfs := filepath.Join(work, "rootfs")
	img := imageFrom(filepath.Join(work, "cold1"))
	cfg, err := img.ConfigFile()
	if err != nil {
		log.Fatal(err)
	}
	unpack(img, rootfs)
	var ready, stopped []time.Duration
	for i := 0; i < *runs; i++ {
		r, s := startToReady(rootfs, cfg.Config)
		ready = append(ready, r)
		stopped = append(stopped, s)
	}
	fmt.Printf("- start to ready (entrypoint `serve` under chroot as %s, until `/ping` answers 200; model load and warm-up included): %s\n", cfg.Config.User, stats(ready))
	fmt.Printf("- SIGTERM to exit, idle (the 2 s --drain-grace, then an empty drain): %s\n", stats(stopped))
}

func buildDocker(modelDir string, args ...string) build {
	start := time.Now()
	cmd := exec.Command(*mlship, append([]string{"build-docker", "-m", modelDir, "--mlship-binary", *mlship}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		log.Fatalf("build-docker %v: %v\n%s%s", args, err, out.String(), errb.String())
	}
	b := build{wall: time.Since(start)}
	if m := builtIn.FindStringSubmatch(out.String()); m != nil {
		b.built, _ = time.ParseDuration(m[1])
	}
	if m := sizeLine.FindStringSubmatch(out.String()); m != nil {
		b.bytes, _ = strconv.ParseInt(m[2], 10, 64)
		b.layers = m[3]
	}
	return b
}

// layerDiff compares the two images of a layout (the cold build and the
// rebuild) layer by layer.
func layerDiff(dir string) string {
	p, err := layout.FromPath(dir)
	if err != nil {
		log.Fatal(err)
	}
	idx, _ := p.ImageIndex()
	m, _ := idx.IndexManifest()
	if len(m.Manifests) != 2 {
		return fmt.Sprintf("%d images in the layout", len(m.Manifests))
	}
	var digests [2][]v1.Hash
	for i, d := range m.Manifests {
		img, _ := idx.Image(d.Digest)
		ls, _ := img.Layers()
		for _, l := range ls {
			h, _ := l.Digest()
			digests[i] = append(digests[i], h)
		}
	}
	var same, changed []string
	names := []string{"host base", "runtime", "model"}
	for i := range digests[0] {
		n := strconv.Itoa(i)
		if i < len(names) {
			n = names[i]
		}
		if i < len(digests[1]) && digests[0][i] == digests[1][i] {
			same = append(same, n)
		} else {
			changed = append(changed, n)
		}
	}
	return fmt.Sprintf("layers changed: %s; unchanged (same digests): %s", strings.Join(changed, ", "), strings.Join(same, ", "))
}

func imageFrom(dir string) v1.Image {
	p, err := layout.FromPath(dir)
	if err != nil {
		log.Fatal(err)
	}
	idx, _ := p.ImageIndex()
	m, _ := idx.IndexManifest()
	img, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		log.Fatal(err)
	}
	return img
}

// startToReady starts the entrypoint as SageMaker does (`serve`, the port
// in SAGEMAKER_BIND_TO_PORT) and times /ping, then SIGTERM to exit.
func startToReady(rootfs string, c v1.Config) (time.Duration, time.Duration) {
	port := freePort()
	var env []string
	for _, kv := range c.Env {
		if strings.HasPrefix(kv, "MLSHIP_HOST=") {
			kv = "MLSHIP_HOST=127.0.0.1"
		}
		env = append(env, kv)
	}
	env = append(env, "SAGEMAKER_BIND_TO_PORT="+strconv.Itoa(port))
	u, g, _ := strings.Cut(c.User, ":")
	uid, _ := strconv.Atoi(u)
	gid, _ := strconv.Atoi(g)
	var logs bytes.Buffer
	cmd := &exec.Cmd{
		Path: c.Entrypoint[0], Args: append(slices.Clone(c.Entrypoint), "serve"), Env: env, Dir: c.WorkingDir,
		Stdout: &logs, Stderr: &logs,
		SysProcAttr: &syscall.SysProcAttr{Chroot: rootfs, Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}},
	}
	client := &http.Client{Timeout: time.Second}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/ping", port)
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Since(start) > time.Minute {
			cmd.Process.Kill()
			log.Fatalf("not ready:\n%s", logs.String())
		}
		time.Sleep(time.Millisecond)
	}
	ready := time.Since(start)
	t := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		log.Fatalf("exit: %v\n%s", err, logs.String())
	}
	return ready, time.Since(t)
}

func unpack(img v1.Image, dir string) {
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			log.Fatal(err)
		}
		p := filepath.Join(dir, filepath.Clean("/"+h.Name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		mode := os.FileMode(h.Mode & 0o777)
		if h.Mode&0o1000 != 0 {
			mode |= os.ModeSticky
		}
		switch h.Typeflag {
		case tar.TypeDir:
			os.MkdirAll(p, mode)
		case tar.TypeReg:
			f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
			if err != nil {
				log.Fatal(err)
			}
			io.Copy(f, tr)
			f.Close()
		case tar.TypeSymlink:
			os.Symlink(h.Linkname, p)
		}
		if h.Typeflag != tar.TypeSymlink {
			os.Chmod(p, mode)
		}
		os.Lchown(p, h.Uid, h.Gid)
	}
}

// startRegistry runs docker-registry on a free loopback port with storage
// under dir and a config of its own (never the package's default).
func startRegistry(dir string) (string, func(), error) {
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		return "", nil, errors.New("docker-registry is not installed")
	}
	addr := "127.0.0.1:" + strconv.Itoa(freePort())
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n  secret: bench\n",
		filepath.Join(dir, "registry"), addr)
	path := filepath.Join(dir, "registry.yml")
	os.WriteFile(path, []byte(cfg), 0o600)
	cmd := exec.Command(bin, "serve", path)
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}
	for start := time.Now(); time.Since(start) < 20*time.Second; time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get("http://" + addr + "/v2/"); err == nil {
			resp.Body.Close()
			return addr, stop, nil
		}
	}
	stop()
	return "", nil, errors.New("docker-registry did not start")
}

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func copyDir(src, dst string) {
	filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		t := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(t, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(t, data, 0o644)
	})
}

func walls(bs []build) []time.Duration {
	return pick(bs, func(b build) time.Duration { return b.wall })
}
func builts(bs []build) []time.Duration {
	return pick(bs, func(b build) time.Duration { return b.built })
}

func pick(bs []build, f func(build) time.Duration) []time.Duration {
	var out []time.Duration
	for _, b := range bs {
		out = append(out, f(b))
	}
	return out
}

func stats(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	r := func(d time.Duration) string {
		if d >= time.Second {
			return fmt.Sprintf("%.2f s", d.Seconds())
		}
		return fmt.Sprintf("%d ms", d.Milliseconds())
	}
	return fmt.Sprintf("%s [%s–%s]", r(s[len(s)/2]), r(s[0]), r(s[len(s)-1]))
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func fileSize(p string) string {
	st, err := os.Stat(p)
	if err != nil {
		return "?"
	}
	return mib(st.Size())
}
