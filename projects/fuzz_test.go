package projects

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"

	"github.com/mlship/mlship/internal/testenv"
)

// FuzzRenderKubeJob: any template renders or fails cleanly, and a
// rendered Job parses back with the fields mlship sets.
func FuzzRenderKubeJob(f *testing.F) {
	if data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(f), "examples", "projects", "docker", "kube-job-template.yaml")); err == nil {
		f.Add(data, "python train.py --alpha 0.5")
	}
	f.Add([]byte("spec: {template: {spec: {containers: [{name: a, env: null}]}}}\n"), "a 'b c'")
	f.Add([]byte("metadata: null\nspec: {template: {spec: {containers: [{}]}}}\n"), "")
	f.Fuzz(func(t *testing.T, tmpl []byte, command string) {
		argv := strings.Fields(command)
		out, err := RenderKubeJob(tmpl, KubeJob{Name: "job-1", Container: "c", Image: "img:1", Command: argv, Env: []KV{{"MLFLOW_RUN_ID", "r"}}})
		if err != nil {
			return
		}
		var doc struct {
			Metadata struct{ Name string }
			Spec     struct {
				Template struct {
					Spec struct {
						Containers []struct {
							Name, Image string
							Command     []string
							Env         []map[string]any
						}
					}
				}
			}
		}
		if err := yaml.Unmarshal(out, &doc); err != nil {
			t.Fatalf("rendered job does not parse: %v\n%s", err, out)
		}
		c := doc.Spec.Template.Spec.Containers
		if doc.Metadata.Name != "job-1" || len(c) == 0 || c[0].Name != "c" || c[0].Image != "img:1" || len(c[0].Env) == 0 ||
			c[0].Env[len(c[0].Env)-1]["name"] != "MLFLOW_RUN_ID" || (len(argv) > 0 && !reflect.DeepEqual(c[0].Command, argv)) {
			t.Fatalf("rendered job lost a field:\n%s", out)
		}
	})
}

// FuzzSourceURI: subdirectory splitting, git URL detection and the
// default-branch reader never panic, and a subdirectory never climbs out.
func FuzzSourceURI(f *testing.F) {
	for _, s := range []string{"file:///srv/r.git#proj", "git@github.com:o/r.git#a/b", "./dir", "https://h/r#../x", "ref: refs/heads/main\tHEAD\nabc\tHEAD"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		_ = isGitURI(uri)
		_ = defaultBranch(uri)
		_, sub, err := splitSubdir(uri)
		if err == nil && (sub == ".." || strings.HasPrefix(sub, "../") || filepath.IsAbs(sub)) {
			t.Fatalf("subdirectory %q of %q leaves the project", sub, uri)
		}
		_, _ = ReadKubeConfig("{" + uri)
	})
}
