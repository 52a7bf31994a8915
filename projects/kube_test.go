package projects

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"

	"github.com/mlship/mlship/internal/testenv"
	"github.com/mlship/mlship/tracking"
)

// kubeSetup is the docker example with a backend config whose template is
// the example's and whose manifest goes to a temporary directory.
func kubeSetup(t *testing.T, ts *trackingServer, path string, extraEnv ...string) (Options, string) {
	t.Helper()
	dir := example(t, "docker")
	manifest := filepath.Join(t.TempDir(), "job.yaml")
	o, _, _ := ts.options(t, dir, "alpha=0.25", "label=two words")
	o.Backend = BackendKubernetes
	o.BackendConfig = fmt.Sprintf(`{"kube-context": "ctx-1", "repository-uri": "registry.example.com/team/docker-example",
		"kube-job-template-path": %q, "manifest-path": %q, "poll-interval": "10ms"}`,
		filepath.Join(dir, "kube-job-template.yaml"), manifest)
	env := append(append(testEnviron(), "PATH="+path), extraEnv...)
	o.Environ, o.Getenv = env, getenvOf(env)
	return o, manifest
}

// TestKubernetesManifest: without kubectl the Job is written, exactly as
// MLflow fills its template, and the run waits SCHEDULED.
func TestKubernetesManifest(t *testing.T) {
	ts := newTrackingServer(t)
	o, manifest := kubeSetup(t, ts, t.TempDir(), "KUBE_MLFLOW_TRACKING_URI=http://mlflow.mlflow.svc:5000")
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Manifest != manifest || res.Status != tracking.StatusScheduled {
		t.Errorf("result %+v", res)
	}
	data, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := yaml.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	name, _ := got["metadata"].(map[string]any)["name"].(string)
	if !regexp.MustCompile(`^docker-example-\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d-\d{6}$`).MatchString(name) || len(name) > 63 {
		t.Errorf("job name %q", name)
	}
	want := map[string]any{
		"apiVersion": "batch/v1",
		"kind":       "Job",
		"metadata":   map[string]any{"name": name, "namespace": "mlflow"},
		"spec": map[string]any{
			"ttlSecondsAfterFinished": 100,
			"backoffLimit":            0,
			"template": map[string]any{"spec": map[string]any{
				"restartPolicy": "Never",
				"containers": []any{map[string]any{
					"name":    "docker-example",
					"image":   "registry.example.com/team/docker-example:latest",
					"command": []any{"python", "train.py", "--alpha", "0.25", "--label", "two words"},
					"env": []any{
						map[string]any{"name": "LOG_LEVEL", "value": "info"},
						map[string]any{"name": "MLFLOW_RUN_ID", "value": res.RunID},
						map[string]any{"name": "MLFLOW_TRACKING_URI", "value": "http://mlflow.mlflow.svc:5000"},
						map[string]any{"name": "MLFLOW_EXPERIMENT_ID", "value": "0"},
					},
					"resources": map[string]any{
						"limits":   map[string]any{"memory": "512Mi"},
						"requests": map[string]any{"memory": "256Mi"},
					},
				}},
			}},
		},
	}
	if !reflect.DeepEqual(got, want) {
		gy, _ := yaml.Marshal(got)
		wy, _ := yaml.Marshal(want)
		t.Errorf("manifest\n%s\nwant\n%s", gy, wy)
	}
	r := ts.run(t, res.RunID)
	if r.Info.Status != tracking.StatusScheduled {
		t.Errorf("run status %s, want SCHEDULED", r.Info.Status)
	}
	wantMap(t, "tag", r.tags, map[string]string{TagBackend: "kubernetes", TagEnv: "docker", TagDockerImage: "registry.example.com/team/docker-example:latest"})
	if r.params["alpha"] != "0.25" || r.params["label"] != "two words" {
		t.Errorf("params %v", r.params)
	}
}

// fakeKubectl writes a kubectl stand-in that logs its arguments and
// reports the Job with the given condition after one poll.
func fakeKubectl(t *testing.T, condition string) (binDir, logFile string) {
	t.Helper()
	binDir = t.TempDir()
	logFile = filepath.Join(t.TempDir(), "kubectl.log")
	script := `#!/bin/sh
PATH=/usr/bin:/bin
echo "$*" >> "` + logFile + `"
case "$*" in
  *" apply -f "*) echo "job.batch/x created" ;;
  *" get job "*)
    n=$(grep -c " get job " "` + logFile + `")
    if [ "$n" -lt 2 ]; then echo '{"status": {"startTime": "2026-01-01T00:00:00Z", "active": 1}}'
    else echo '{"status": {"startTime": "2026-01-01T00:00:00Z", "conditions": [{"type": "` + condition + `", "status": "True"}]}}'; fi ;;
  *) echo "unexpected: $*" >&2; exit 1 ;;
esac
`
	if err := os.WriteFile(filepath.Join(binDir, "kubectl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return binDir, logFile
}

// TestKubernetesApply: with kubectl on PATH the Job is applied in the
// configured context and followed to its end condition.
func TestKubernetesApply(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		testenv.Missing(t, "/bin/sh")
	}
	ts := newTrackingServer(t)
	for _, tc := range []struct {
		condition string
		status    tracking.RunStatus
	}{{"Complete", tracking.StatusFinished}, {"Failed", tracking.StatusFailed}} {
		t.Run(tc.condition, func(t *testing.T) {
			bin, log := fakeKubectl(t, tc.condition)
			o, manifest := kubeSetup(t, ts, bin)
			res, err := Run(context.Background(), o)
			if (err == nil) != (tc.status == tracking.StatusFinished) {
				t.Errorf("Run = %v", err)
			}
			if res == nil || res.Status != tc.status || ts.run(t, res.RunID).Info.Status != tc.status {
				t.Fatalf("result %+v", res)
			}
			data, _ := os.ReadFile(log)
			lines := strings.Split(strings.TrimSpace(string(data)), "\n")
			if len(lines) != 3 || lines[0] != "--context ctx-1 apply -f "+manifest ||
				!regexp.MustCompile(`^--context ctx-1 get job docker-example-[-0-9]+ -n mlflow -o json$`).MatchString(lines[1]) {
				t.Errorf("kubectl calls:\n%s", data)
			}
		})
	}
}

func TestReadKubeConfig(t *testing.T) {
	c, err := ReadKubeConfig(filepath.Join(testenv.RepoRoot(t), "examples", "projects", "docker", "backend-config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if c.KubeContext != "docker-desktop" || c.RepositoryURI != "registry.example.com/mlflow/docker-example" ||
		c.JobTemplatePath != "examples/projects/docker/kube-job-template.yaml" {
		t.Errorf("config %+v", c)
	}
	for arg, want := range map[string]string{
		"":                                "needs --backend-config",
		`{"repository-uri": "r"}`:         "lacks kube-job-template-path",
		`{"kube-job-template-path": "t"}`: "lacks repository-uri",
		`{"kube-job-template-path": "t", "repository-uri": "r", "poll-interval": "x"}`: "poll-interval",
		`{"kube-job-template-path": "t", "repository-uri": "r", "typo": 1}`:            "unknown field",
		"/no/such/file.json": "no such file",
	} {
		if _, err := ReadKubeConfig(arg); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ReadKubeConfig(%q) = %v, want %q", arg, err, want)
		}
	}
}

func TestRenderKubeJobErrors(t *testing.T) {
	for tmpl, want := range map[string]string{
		"kind: Job\n": "no spec.template.spec",
		"spec: {template: {spec: {containers: []}}}\n":                         "at least one container",
		"spec: {template: {spec: {containers: [x]}}}\n":                        "not a mapping",
		"metadata: [a]\nspec: {template: {spec: {containers: [{name: a}]}}}\n": "metadata is not a mapping",
		"spec: {template: {spec: {containers: [{env: 3}]}}}\n":                 "env is not a list",
		"": "empty",
	} {
		if _, err := RenderKubeJob([]byte(tmpl), KubeJob{Name: "n"}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("RenderKubeJob(%q) = %v, want %q", tmpl, err, want)
		}
	}
	if got := dnsLabel("My_Project.v2!", 63); got != "my-project-v2" {
		t.Errorf("dnsLabel = %q", got)
	}
}
