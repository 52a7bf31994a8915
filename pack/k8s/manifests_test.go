package k8s

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	yaml "go.yaml.in/yaml/v3"

	"github.com/mlship/mlship/internal/testenv"
	"github.com/mlship/mlship/mlmodel"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func load(t *testing.T, dir string) *mlmodel.Model {
	t.Helper()
	m, err := mlmodel.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func repoModel(rel string) func(t *testing.T) *mlmodel.Model {
	return func(t *testing.T) *mlmodel.Model {
		return load(t, filepath.Join(testenv.RepoRoot(t), filepath.FromSlash(rel)))
	}
}

func sharedModel(name string) func(t *testing.T) *mlmodel.Model {
	return func(t *testing.T) *mlmodel.Model {
		return load(t, filepath.Join(testenv.SharedTestdata(t), "mlflow", name))
	}
}

func TestRenderGolden(t *testing.T) {
	tests := []struct {
		name  string
		model func(t *testing.T) *mlmodel.Model
		opts  Options
	}{
		{"sklearn-iris", repoModel("examples/sklearn-iris/model"),
			Options{Image: "registry.example/iris-sklearn:1", Flavor: "python_function"}},
		{"iris-onnx", repoModel("examples/iris-onnx/model"),
			Options{Image: "registry.example/iris@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", Flavor: "onnx",
				Name: "iris", ModelName: "iris", Namespace: "models", Replicas: 3, CPU: "500m", Memory: "256Mi",
				CPULimit: "2", MemoryLimit: "512Mi", DrainGrace: 2 * time.Second, DrainTimeout: 25 * time.Second}},
		{"onnx-as-python", repoModel("examples/iris-onnx/model"),
			Options{Image: "registry.example/iris-py:1", Flavor: "python_function", ForceFlavor: true, CPU: "2.5",
				StartupTimeout: 10 * time.Minute, WritableRoot: true, Kinds: []string{KindDeployment}}},
		{"langchain-2.12", sharedModel("langchain_2.12_model_metadata_only"),
			Options{Image: "registry.example/rag:1", Flavor: "python_function", Workers: 4}},
		{"onnx-mlp-handmade", sharedModel("onnx_mlp_handmade"),
			Options{Image: "registry.example/mlp:1", Flavor: "onnx", Kinds: []string{KindInferenceService, KindService}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			docs, err := Render(tc.model(t), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			var all bytes.Buffer
			for _, d := range docs {
				all.WriteString("---\n")
				all.Write(d.YAML)
			}
			golden(t, filepath.Join("testdata", tc.name+".yaml"), all.Bytes())
		})
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if d := cmp.Diff(string(want), string(got)); d != "" {
		t.Errorf("%s differs (-want +got; go test -update rewrites it):\n%s", path, d)
	}
}

// strict decodes one manifest into its type, refusing unknown fields.
func strict[T any](t *testing.T, doc []byte) T {
	t.Helper()
	var v T
	dec := yaml.NewDecoder(bytes.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decoding:\n%s\n%v", doc, err)
	}
	return v
}

func TestRenderFields(t *testing.T) {
	m := load(t, filepath.Join(testenv.RepoRoot(t), "examples", "sklearn-iris", "model"))
	docs, err := Render(m, Options{Image: "registry.example/iris:1", Flavor: "python_function", CPU: "1500m",
		DrainGrace: 3 * time.Second, DrainTimeout: 40 * time.Second, ModelName: "Iris Classifier"})
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 3 || docs[0].Kind != KindDeployment || docs[1].Kind != KindService || docs[2].Kind != KindInferenceService {
		t.Fatalf("documents %v", docs)
	}
	d := strict[Deployment](t, docs[0].YAML)
	s := strict[Service](t, docs[1].YAML)
	isvc := strict[InferenceService](t, docs[2].YAML)

	if d.APIVersion != "apps/v1" || d.Kind != "Deployment" || d.Metadata.Name != "iris-classifier" {
		t.Errorf("deployment header %s %s %s", d.APIVersion, d.Kind, d.Metadata.Name)
	}
	pod := d.Spec.Template.Spec
	if pod.TerminationGracePeriodSeconds == nil || *pod.TerminationGracePeriodSeconds != 48 { // 3 + 40 + 5
		t.Errorf("terminationGracePeriodSeconds %v, want 48", pod.TerminationGracePeriodSeconds)
	}
	if d.Spec.Selector.MatchLabels["app.kubernetes.io/name"] != "iris-classifier" ||
		d.Spec.Template.Metadata.Labels["app.kubernetes.io/name"] != "iris-classifier" {
		t.Errorf("selector %v does not match the pod labels %v", d.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels)
	}
	if pod.SecurityContext == nil || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot {
		t.Errorf("pod securityContext %+v", pod.SecurityContext)
	}
	c := pod.Containers[0]
	wantArgs := []string{"serve", "/opt/ml/model", "--host", "0.0.0.0", "--port", "8080", "--model-name", "Iris Classifier",
		"--drain-grace", "3s", "--drain-timeout", "40s", "--workers", "2"}
	if diff := cmp.Diff(wantArgs, c.Args); diff != "" {
		t.Errorf("args (-want +got):\n%s", diff)
	}
	if c.Ports[0].ContainerPort != 8080 || c.Ports[0].Name != "http" {
		t.Errorf("ports %+v", c.Ports)
	}
	for _, p := range []struct {
		name string
		pr   *Probe
		path string
	}{{"startup", c.StartupProbe, "/v2/health/live"}, {"readiness", c.ReadinessProbe, "/v2/health/ready"}, {"liveness", c.LivenessProbe, "/v2/health/live"}} {
		if p.pr == nil || p.pr.HTTPGet.Path != p.path || p.pr.HTTPGet.Port != "http" {
			t.Errorf("%s probe %+v, want GET %s on port http", p.name, p.pr, p.path)
		}
	}
	if got := c.StartupProbe.PeriodSeconds * c.StartupProbe.FailureThreshold; got != 300 {
		t.Errorf("startup probe allows %ds, want 300 for python_function", got)
	}
	sc := c.SecurityContext
	if sc == nil || !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation || sc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("container securityContext %+v", sc)
	}
	if len(c.VolumeMounts) != 1 || c.VolumeMounts[0].MountPath != "/tmp" || pod.Volumes[0].EmptyDir == nil {
		t.Errorf("/tmp volume: %+v %+v", c.VolumeMounts, pod.Volumes)
	}
	if c.Resources.Requests["cpu"] != "1500m" || c.Resources.Limits["memory"] != DefaultMemory {
		t.Errorf("resources %+v", c.Resources)
	}

	if s.Spec.Selector["app.kubernetes.io/name"] != "iris-classifier" || s.Spec.Ports[0].Port != 8080 || s.Spec.Ports[0].TargetPort != "http" {
		t.Errorf("service %+v", s.Spec)
	}

	if isvc.APIVersion != "serving.kserve.io/v1beta1" || isvc.Kind != "InferenceService" {
		t.Errorf("inference service header %s %s", isvc.APIVersion, isvc.Kind)
	}
	kc := isvc.Spec.Predictor.Containers[0]
	if kc.Name != "kserve-container" || kc.Image != "registry.example/iris:1" || kc.Ports[0].ContainerPort != 8080 {
		t.Errorf("predictor container %+v", kc)
	}
	if len(kc.Env) != 1 || kc.Env[0] != (EnvVar{Name: "PROTOCOL", Value: "v2"}) {
		t.Errorf("predictor env %+v, want PROTOCOL=v2", kc.Env)
	}
	if kc.StartupProbe != nil || kc.LivenessProbe.InitialDelaySeconds != 300 || kc.ReadinessProbe.HTTPGet.Port != 8080 {
		t.Errorf("predictor probes: startup %+v, liveness %+v, readiness %+v", kc.StartupProbe, kc.LivenessProbe, kc.ReadinessProbe)
	}
}

func TestModelName(t *testing.T) {
	root := testenv.RepoRoot(t)
	if got := ModelName(load(t, filepath.Join(root, "examples", "iris-onnx", "model")), ""); got != "model" {
		t.Errorf("directory name: %q", got)
	}
	if got := ModelName(load(t, filepath.Join(root, "examples", "iris-onnx", "model")), "x"); got != "x" {
		t.Errorf("override: %q", got)
	}
	if got := ModelName(load(t, filepath.Join(testenv.SharedTestdata(t), "mlflow", "langchain_2.12_model_metadata_only")), ""); got != "rag.sunish.test_mflow" {
		t.Errorf("registered_model_meta: %q", got)
	}
}

func TestDNSLabel(t *testing.T) {
	for in, want := range map[string]string{
		"model":                        "model",
		"rag.sunish.test_mflow":        "rag-sunish-test-mflow",
		"Iris Classifier v2":           "iris-classifier-v2",
		"2024_model":                   "model",
		"--":                           "model",
		"a__b":                         "a-b",
		strings.Repeat("x", 70):        strings.Repeat("x", 63),
		"ab" + strings.Repeat("-", 70): "ab",
	} {
		if got := dnsLabel(in); got != want {
			t.Errorf("dnsLabel(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRenderErrors(t *testing.T) {
	m := load(t, filepath.Join(testenv.RepoRoot(t), "examples", "iris-onnx", "model"))
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{Flavor: "onnx"}, "image reference is required"},
		{Options{Image: "x"}, "flavor is required"},
		{Options{Image: "x", Flavor: "onnx", CPU: "one"}, "not a Kubernetes quantity"},
		{Options{Image: "x", Flavor: "onnx", MemoryLimit: "1GB"}, "not a Kubernetes quantity"},
		{Options{Image: "x", Flavor: "onnx", Name: "Iris"}, "not a DNS label"},
		{Options{Image: "x", Flavor: "onnx", Replicas: -1}, "at least 1"},
		{Options{Image: "x", Flavor: "onnx", DrainTimeout: -time.Second}, "negative"},
		{Options{Image: "x", Flavor: "onnx", Kinds: []string{"Job"}}, "unknown manifest kind"},
	} {
		if _, err := Render(m, tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error containing %q", tc.opts, err, tc.want)
		}
	}
}
