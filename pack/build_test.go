package pack

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// The same inputs give the same image, whenever and wherever the files
// were written: file times and the order files were created in do not
// reach the layers.
func TestBuildIsReproducible(t *testing.T) {
	in := inputs(t)
	first := build(t, in.options())
	if err := validate.Image(first); err != nil {
		t.Fatalf("validate: %v", err)
	}
	// Touch every model file: new modification times, same contents.
	later := time.Now().Add(time.Hour)
	filepath.Walk(in.model, func(p string, _ os.FileInfo, _ error) error { return os.Chtimes(p, later, later) })
	second := build(t, in.options())
	if a, b := digestOf(t, first), digestOf(t, second); a != b {
		t.Fatalf("digests differ: %s then %s", a, b)
	}
	if got := len(layerDigests(t, first)); got != 3 {
		t.Fatalf("%d layers, want 3 (host base, runtime, model)", got)
	}
}

// A model-only change rebuilds only the model layer: the base and runtime
// layers keep their digests, so a registry already holding them receives
// only the model.
func TestModelOnlyChangeRebuildsOnlyTheModelLayer(t *testing.T) {
	in := inputs(t)
	before := build(t, in.options())
	// A retrained model: new weights, new uuid and creation time.
	mlmodel := filepath.Join(in.model, "MLmodel")
	text, err := os.ReadFile(mlmodel)
	if err != nil {
		t.Fatal(err)
	}
	text = []byte(strings.Replace(string(text), "6a1f0e2b3c4d4e5f8a9b0c1d2e3f4a5b", "00000000000000000000000000000001", 1))
	text = []byte(strings.Replace(string(text), "2026-11-26 00:00:00.000000", "2026-12-01 12:00:00.000000", 1))
	if err := os.WriteFile(mlmodel, text, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(in.model, "notes.txt"), []byte("retrained\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	after := build(t, in.options())
	b, a := layerDigests(t, before), layerDigests(t, after)
	if b[0] != a[0] || b[1] != a[1] {
		t.Errorf("base or runtime layer changed:\n before %v\n after  %v", b, a)
	}
	if b[2] == a[2] {
		t.Errorf("model layer unchanged: %s", a[2])
	}
	if digestOf(t, before) == digestOf(t, after) {
		t.Error("image digest unchanged")
	}
	cf, _ := after.ConfigFile()
	if got := cf.Config.Labels[LabelModelUUID]; got != "00000000000000000000000000000001" {
		t.Errorf("uuid label %q", got)
	}
	if got := cf.Created.Time; !got.Equal(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)) {
		t.Errorf("created %s, want the model's utc_time_created", got)
	}
}

// SOURCE_DATE_EPOCH (Options.Epoch) is every timestamp; without it files
// carry the Unix epoch and the image the model's creation time.
func TestTimestamps(t *testing.T) {
	in := inputs(t)
	img := build(t, in.options())
	cf, _ := img.ConfigFile()
	if want := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC); !cf.Created.Time.Equal(want) {
		t.Errorf("created %s, want %s", cf.Created.Time, want)
	}
	layers, _ := img.Layers()
	for _, l := range layers {
		entries, _ := readLayer(t, l)
		for name, e := range entries {
			if e.ModTime != 0 {
				t.Fatalf("%s: mtime %d, want 0", name, e.ModTime)
			}
		}
	}
	o := in.options()
	o.Epoch = time.Unix(1700000000, 0)
	img = build(t, o)
	cf, _ = img.ConfigFile()
	if !cf.Created.Time.Equal(o.Epoch) {
		t.Errorf("created %s, want %s", cf.Created.Time, o.Epoch)
	}
	layers, _ = img.Layers()
	entries, _ := readLayer(t, layers[2])
	if e := entries["opt/ml/model/MLmodel"]; e.ModTime != 1700000000 {
		t.Errorf("MLmodel mtime %d", e.ModTime)
	}
}

// The runtime configuration is the server's: entrypoint mlship, command
// `serve /opt/ml/model`, port 8080 from the environment, a non-root user,
// the native library named by its variable.
func TestImageConfig(t *testing.T) {
	in := inputs(t)
	o := in.options()
	o.Labels = map[string]string{"team": "fraud", LabelTitle: "iris"}
	o.Env = []string{"MLSHIP_LOG_FORMAT=json"}
	img := build(t, o)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("platform %s/%s", cf.OS, cf.Architecture)
	}
	c := cf.Config
	want := v1.Config{
		Entrypoint:   []string{"/opt/mlship/bin/mlship"},
		Cmd:          []string{"serve", "/opt/ml/model"},
		User:         "65532:65532",
		WorkingDir:   "/opt/ml",
		ExposedPorts: map[string]struct{}{"8080/tcp": {}},
		StopSignal:   "SIGTERM",
		Env: []string{
			"PATH=/opt/mlship/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"MLSHIP_ONNXRUNTIME_LIB=/opt/mlship/lib/libonnxruntime.so.1",
			"MLSHIP_HOST=0.0.0.0",
			"MLSHIP_PORT=8080",
			"MLSHIP_LOG_FORMAT=json",
		},
		Labels: map[string]string{
			"org.opencontainers.image.created":                         "2026-11-26T00:00:00Z",
			"org.opencontainers.image.title":                           "iris",
			"org.opencontainers.image.description":                     "MLflow model served by mlship (onnx flavor)",
			"io.mlship.version":                                        "1.2.3-test",
			"io.mlship.model.uuid":                                     "6a1f0e2b3c4d4e5f8a9b0c1d2e3f4a5b",
			"io.mlship.model.created":                                  "2026-11-26 00:00:00.000000",
			"io.mlship.mlflow-version":                                 "2.17.2",
			"io.mlship.flavors":                                        "onnx,python_function",
			"io.mlship.flavor":                                         "onnx",
			"io.mlship.signature-digest":                               SignatureDigest(mustModel(t, in.model).Signature),
			"com.amazonaws.sagemaker.capabilities.accept-bind-to-port": "true",
			"team": "fraud",
		},
	}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	mt, _ := img.MediaType()
	if mt != types.DockerManifestSchema2 {
		t.Errorf("manifest media type %s: SageMaker wants Docker v2 schema 2", mt)
	}
	var hist []string
	for _, h := range cf.History {
		hist = append(hist, h.CreatedBy)
	}
	if want := []string{HistoryHostBase, HistoryRuntime, HistoryModel}; !slices.Equal(hist, want) {
		t.Errorf("history %q, want %q", hist, want)
	}
}

// The runtime layer holds the binary and the library where the
// configuration says; the model layer the model's files, readable by the
// image's user and owned by root.
func TestLayerContents(t *testing.T) {
	in := inputs(t)
	img := build(t, in.options())
	layers, _ := img.Layers()
	st, _ := os.Stat(in.binary)
	lst, _ := os.Stat(in.lib)
	rt, order := readLayer(t, layers[1])
	want := map[string]tarEntry{
		"opt/":                               {Type: '5', Mode: 0o755},
		"opt/mlship/":                        {Type: '5', Mode: 0o755},
		"opt/mlship/bin/":                    {Type: '5', Mode: 0o755},
		"opt/mlship/bin/mlship":              {Type: '0', Mode: 0o755, Size: st.Size()},
		"opt/mlship/lib/":                    {Type: '5', Mode: 0o755},
		"opt/mlship/lib/libonnxruntime.so.1": {Type: '0', Mode: 0o644, Size: lst.Size()},
	}
	if diff := cmp.Diff(want, rt); diff != "" {
		t.Errorf("runtime layer (-want +got):\n%s", diff)
	}
	if !slices.IsSorted(order) {
		t.Errorf("entries not sorted: %v", order)
	}
	model, order := readLayer(t, layers[2])
	if !slices.IsSorted(order) {
		t.Errorf("entries not sorted: %v", order)
	}
	files, _ := os.ReadDir(in.model)
	for _, f := range files {
		e, ok := model["opt/ml/model/"+f.Name()]
		if !ok {
			t.Errorf("%s missing from the model layer", f.Name())
			continue
		}
		if e.Mode != 0o644 || e.UID != 0 || e.GID != 0 {
			t.Errorf("%s: mode %o owner %d:%d", f.Name(), e.Mode, e.UID, e.GID)
		}
	}
}

// The host base holds the loader and every library the programs need,
// found where the image's loader looks, and a passwd naming the user.
func TestHostBaseIsSelfContained(t *testing.T) {
	in := inputs(t)
	img := build(t, in.options())
	layers, _ := img.Layers()
	base, _ := readLayer(t, layers[0])
	// resolve follows symlinks inside the layer, as the loader would.
	var resolve func(p string, hops int) (string, bool)
	resolve = func(p string, hops int) (string, bool) {
		if hops > 20 {
			return "", false
		}
		parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
		cur := ""
		for i, part := range parts {
			next := strings.TrimPrefix(cur+"/"+part, "/")
			e, ok := base[next]
			if !ok {
				e, ok = base[next+"/"]
			}
			if !ok {
				return "", false
			}
			if e.Type == '2' {
				target := e.Link
				if !strings.HasPrefix(target, "/") {
					target = "/" + strings.TrimPrefix(cur+"/"+target, "/")
				}
				return resolve(filepath.Join(append([]string{target}, parts[i+1:]...)...), hops+1)
			}
			cur = next
		}
		return cur, base[cur].Type == '0'
	}
	for _, prog := range []string{in.binary, in.lib} {
		info, err := readELF(prog)
		if err != nil {
			t.Fatal(err)
		}
		if info.interp != "" {
			if _, ok := resolve(info.interp, 0); !ok {
				t.Errorf("interpreter %s of %s not in the base", info.interp, prog)
			}
		}
		for _, lib := range info.needed {
			found := false
			for _, d := range []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib", "/usr/lib"} {
				if _, ok := resolve(d+"/"+lib, 0); ok {
					found = true
					break
				}
			}
			if !found {
				t.Errorf("%s needs %s, which the base lacks", prog, lib)
			}
		}
	}
	for name, want := range map[string]tarEntry{
		"tmp/":          {Type: '5', Mode: 0o1777},
		"home/nonroot/": {Type: '5', Mode: 0o700, UID: userID, GID: groupID},
	} {
		if got := base[name]; got != want {
			t.Errorf("%s: %+v, want %+v", name, got, want)
		}
	}
	if _, ok := base["etc/passwd"]; !ok {
		t.Error("no /etc/passwd")
	}
}

// A python_function-only model is refused with the reason; one with a
// native flavor too is packed with it; forcing python_function is refused.
func TestFlavorSelection(t *testing.T) {
	in := inputs(t)
	o := in.options()
	o.Flavor = "python_function"
	_, err := Build(context.Background(), o)
	var fe *FlavorError
	if !errors.As(err, &fe) || !errors.Is(err, ErrNoNativeFlavor) || !strings.Contains(err.Error(), "python_function") {
		t.Fatalf("forced python_function: %v", err)
	}

	text, _ := os.ReadFile(filepath.Join(in.model, "MLmodel"))
	s := string(text)
	start := strings.Index(s, "  onnx:\n")
	end := strings.Index(s, "  python_function:\n")
	if start < 0 || end < start {
		t.Fatalf("unexpected MLmodel:\n%s", s)
	}
	s = s[:start] + s[end:]
	if err := os.WriteFile(filepath.Join(in.model, "MLmodel"), []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Build(context.Background(), in.options())
	if !errors.As(err, &fe) || !fe.Python || !strings.Contains(err.Error(), "Python environment") {
		t.Fatalf("python_function-only model: %v", err)
	}
}

// An unsupported platform, a binary for another machine and a missing
// native library are errors naming the problem.
func TestBuildErrors(t *testing.T) {
	in := inputs(t)
	for _, tc := range []struct {
		name   string
		change func(*Options)
		want   string
	}{
		{"platform", func(o *Options) { o.Platform = "linux/arm64" }, "only linux/amd64"},
		{"binary not ELF", func(o *Options) { o.Binary = filepath.Join(in.model, "MLmodel") }, "mlship binary"},
		{"library missing", func(o *Options) {
			o.Getenv = func(k string) string {
				if k == "MLSHIP_ONNXRUNTIME_LIB" {
					return "/nonexistent/libonnxruntime.so"
				}
				return ""
			}
		}, "MLSHIP_ONNXRUNTIME_LIB"},
		{"base missing", func(o *Options) { o.Base = "oci:" + filepath.Join(t.TempDir(), "none") }, "base image"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := in.options()
			tc.change(&o)
			_, err := Build(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v; want one mentioning %q", err, tc.want)
			}
		})
	}
}

// A model reached through a symbolic link packs the same as the directory,
// and a cancelled build stops with the context's error.
func TestModelPathAndCancel(t *testing.T) {
	in := inputs(t)
	want := digestOf(t, build(t, in.options()))
	link := filepath.Join(t.TempDir(), "linked")
	if err := os.Symlink(in.model, link); err != nil {
		t.Fatal(err)
	}
	o := in.options()
	o.Model = link
	img := build(t, o)
	layers, _ := img.Layers()
	entries, _ := readLayer(t, layers[2])
	if _, ok := entries["opt/ml/model/model.onnx"]; !ok {
		t.Fatalf("model layer through a link: %v", entries)
	}
	cf, _ := img.ConfigFile()
	if cf.Config.Labels[LabelTitle] == filepath.Base(in.model) && digestOf(t, img) != want {
		t.Errorf("digest through a link %s, want %s", digestOf(t, img), want)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Build(ctx, in.options()); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled build: %v", err)
	}
}
