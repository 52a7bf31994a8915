package projects

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/mlship/mlship/projects/mlproject"
	"github.com/mlship/mlship/tracking"
)

// KubeConfig is --backend-config for the kubernetes backend: MLflow's keys
// plus mlship's (manifest-path, image-tag, poll-interval).
type KubeConfig struct {
	// KubeContext is kubectl's --context; "" uses kubectl's current one.
	KubeContext string `json:"kube-context"`
	// RepositoryURI is the image repository; the image is
	// <repository-uri>:<image-tag>.
	RepositoryURI string `json:"repository-uri"`
	// JobTemplatePath is the YAML Job template.
	JobTemplatePath string `json:"kube-job-template-path"`
	// ManifestPath is where the rendered Job is written (default
	// <job name>.yaml in the working directory).
	ManifestPath string `json:"manifest-path"`
	// ImageTag defaults to the first 7 characters of the git commit (as
	// MLflow tags project images), else "latest".
	ImageTag string `json:"image-tag"`
	// PollInterval is how often the Job's status is read (default "5s").
	PollInterval string `json:"poll-interval"`
}

// ReadKubeConfig reads --backend-config: a JSON file, or JSON text.
func ReadKubeConfig(arg string) (*KubeConfig, error) {
	if arg == "" {
		return nil, errors.New("the kubernetes backend needs --backend-config (kube-job-template-path and repository-uri)")
	}
	data := []byte(arg)
	if !strings.HasPrefix(strings.TrimSpace(arg), "{") {
		var err error
		if data, err = os.ReadFile(arg); err != nil {
			return nil, fmt.Errorf("--backend-config: %w", err)
		}
	}
	var c KubeConfig
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("--backend-config %s: %w", arg, err)
	}
	var missing []string
	if c.JobTemplatePath == "" {
		missing = append(missing, "kube-job-template-path")
	}
	if c.RepositoryURI == "" {
		missing = append(missing, "repository-uri")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("--backend-config lacks %s", strings.Join(missing, " and "))
	}
	if c.PollInterval != "" {
		if d, err := time.ParseDuration(c.PollInterval); err != nil || d <= 0 {
			return nil, fmt.Errorf("--backend-config poll-interval %q: want a duration such as 5s", c.PollInterval)
		}
	}
	return &c, nil
}

// KubeJob is what fills the template.
type KubeJob struct {
	Name      string // metadata.name
	Container string // the first container's name
	Image     string
	Command   []string // the entry point's command as argv
	Env       []KV     // appended to the container's env
}

// KV is a name and value (a container environment variable).
type KV struct{ Name, Value string }

var dnsUnsafe = regexp.MustCompile(`[^a-z0-9-]+`)

// dnsLabel makes s a valid Kubernetes name part (RFC 1123 label).
func dnsLabel(s string, max int) string {
	s = strings.Trim(dnsUnsafe.ReplaceAllString(strings.ToLower(s), "-"), "-")
	if len(s) > max {
		s = strings.TrimRight(s[:max], "-")
	}
	if s == "" {
		s = "mlship-project"
	}
	return s
}

// RenderKubeJob fills MLflow's Job template as MLflow's kubernetes backend
// does: metadata.name, the first container's name, image and command, and
// its env extended with the run's variables. It returns the YAML.
func RenderKubeJob(template []byte, j KubeJob) ([]byte, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(template, &doc); err != nil {
		return nil, fmt.Errorf("job template: %w", err)
	}
	if doc == nil {
		return nil, errors.New("job template is empty")
	}
	meta, ok := doc["metadata"].(map[string]any)
	if !ok {
		if doc["metadata"] != nil {
			return nil, errors.New("job template: metadata is not a mapping")
		}
		meta = map[string]any{}
		doc["metadata"] = meta
	}
	meta["name"] = j.Name
	c, err := firstContainer(doc)
	if err != nil {
		return nil, err
	}
	c["name"] = j.Container
	c["image"] = j.Image
	cmd := make([]any, len(j.Command))
	for i, a := range j.Command {
		cmd[i] = a
	}
	c["command"] = cmd
	env, _ := c["env"].([]any)
	if c["env"] != nil && env == nil {
		return nil, errors.New("job template: the container's env is not a list")
	}
	for _, kv := range j.Env {
		env = append(env, map[string]any{"name": kv.Name, "value": kv.Value})
	}
	c["env"] = env
	out, err := yaml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("rendering job: %w", err)
	}
	return out, nil
}

func firstContainer(doc map[string]any) (map[string]any, error) {
	cur := any(doc)
	for _, k := range []string{"spec", "template", "spec"} {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("job template: no spec.template.spec (missing %s)", k)
		}
		cur = m[k]
	}
	m, ok := cur.(map[string]any)
	if !ok {
		return nil, errors.New("job template: no spec.template.spec")
	}
	list, ok := m["containers"].([]any)
	if !ok || len(list) == 0 {
		return nil, errors.New("job template: spec.template.spec.containers must list at least one container")
	}
	c, ok := list[0].(map[string]any)
	if !ok {
		return nil, errors.New("job template: the first container is not a mapping")
	}
	return c, nil
}

// kubernetes renders the Job for inv, records the run and applies the Job
// with kubectl when it is on PATH (following it to the end), else leaves
// the manifest for the user and the run SCHEDULED.
func (r *runner) kubernetes(ctx context.Context, j *job, inv *mlproject.Invocation) (*Result, error) {
	cfg, err := ReadKubeConfig(r.o.BackendConfig)
	if err != nil {
		return nil, err
	}
	if j.proj.EnvType != mlproject.EnvDocker {
		return nil, errors.New("the kubernetes backend runs docker_env projects (the Job's image is built FROM docker_env.image)")
	}
	tmplPath := cfg.JobTemplatePath
	if !filepath.IsAbs(tmplPath) {
		tmplPath = filepath.Join(r.workDir, tmplPath)
	}
	tmpl, err := os.ReadFile(tmplPath)
	if err != nil {
		return nil, fmt.Errorf("kube-job-template-path: %w", err)
	}
	argv, err := mlproject.Split(inv.Command)
	if err != nil {
		return nil, fmt.Errorf("entry point command %q: %w", inv.Command, err)
	}
	image := imageTag(cfg.RepositoryURI, j.src)
	if cfg.ImageTag != "" {
		image = cfg.RepositoryURI + ":" + cfg.ImageTag
	}
	name := dnsLabel(j.proj.Name, 63-27) + "-" + strings.ReplaceAll(time.Now().UTC().Format("2006-01-02-15-04-05.000000"), ".", "-")
	// Validate the template before a run exists.
	if _, err := RenderKubeJob(tmpl, KubeJob{Name: name, Container: dnsLabel(j.proj.Name, 63), Image: image, Command: argv}); err != nil {
		return nil, err
	}
	run, err := j.createRun(ctx, r.o.RunName, inv.AllParams(), tracking.Tag{Key: TagDockerImage, Value: image})
	if err != nil {
		return nil, err
	}
	id := run.Info.RunID
	res := &Result{RunID: id, ExperimentID: j.expID, Params: inv.AllParams()}
	trackingURI := r.o.TrackingURI
	if u := r.getenv("KUBE_MLFLOW_TRACKING_URI"); u != "" {
		trackingURI = u
	}
	manifest, err := RenderKubeJob(tmpl, KubeJob{
		Name: name, Container: dnsLabel(j.proj.Name, 63), Image: image, Command: argv,
		Env: []KV{{"MLFLOW_RUN_ID", id}, {"MLFLOW_TRACKING_URI", trackingURI}, {"MLFLOW_EXPERIMENT_ID", j.expID}},
	})
	if err != nil {
		return res, errors.Join(err, j.end(ctx, id, tracking.StatusFailed))
	}
	path := cfg.ManifestPath
	if path == "" {
		path = name + ".yaml"
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(r.workDir, path)
	}
	if err := os.WriteFile(path, manifest, 0o644); err != nil {
		return res, errors.Join(fmt.Errorf("writing the job manifest: %w", err), j.end(ctx, id, tracking.StatusFailed))
	}
	res.Manifest = path
	kubectl := r.lookPath("kubectl")
	if kubectl == "" {
		res.Status = tracking.StatusScheduled
		if _, err := r.o.Tracker.UpdateRun(context.WithoutCancel(ctx), id, tracking.UpdateRun{Status: tracking.StatusScheduled}); err != nil {
			return res, err
		}
		fmt.Fprintf(r.o.Stderr, "mlship: kubectl is not on PATH; wrote the Job for run %s to %s\n"+
			"mlship: apply it with: kubectl apply -f %s (the run stays SCHEDULED until the job's MLflow client starts it)\n", id, path, path)
		return res, nil
	}
	k := kubectlCmd{path: kubectl, context: cfg.KubeContext, env: r.o.Environ}
	if out, err := k.run(ctx, "apply", "-f", path); err != nil {
		res.Status = tracking.StatusFailed
		return res, errors.Join(fmt.Errorf("kubectl apply: %w: %s", err, out), j.end(ctx, id, tracking.StatusFailed))
	}
	fmt.Fprintf(r.o.Stderr, "mlship: created job %s for run %s (manifest %s)\n", name, id, path)
	poll := 5 * time.Second
	if cfg.PollInterval != "" {
		poll, _ = time.ParseDuration(cfg.PollInterval)
	}
	ns := "default"
	if m, ok := yamlNamespace(manifest); ok {
		ns = m
	}
	status, err := r.followJob(ctx, k, name, ns, id, poll)
	res.Status = status
	if endErr := j.end(ctx, id, status); endErr != nil {
		err = errors.Join(err, endErr)
	}
	if err != nil {
		return res, err
	}
	if status != tracking.StatusFinished {
		return res, fmt.Errorf("%w: job %s ended %s", ErrFailed, name, status)
	}
	return res, nil
}

func yamlNamespace(manifest []byte) (string, bool) {
	var m struct {
		Metadata struct {
			Namespace string `yaml:"namespace"`
		} `yaml:"metadata"`
	}
	if yaml.Unmarshal(manifest, &m) != nil || m.Metadata.Namespace == "" {
		return "", false
	}
	return m.Metadata.Namespace, true
}

type kubectlCmd struct {
	path, context string
	env           []string
}

func (k kubectlCmd) run(ctx context.Context, args ...string) (string, error) {
	if k.context != "" {
		args = append([]string{"--context", k.context}, args...)
	}
	cmd := exec.CommandContext(ctx, k.path, args...)
	cmd.Env = k.env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		// The caller reports the output; stderr says why.
		return strings.TrimSpace(string(out) + "\n" + stderr.String()), err
	}
	return strings.TrimSpace(string(out)), nil
}

// followJob polls the Job as MLflow does: a start time means RUNNING, a
// Complete condition FINISHED, a Failed one FAILED. When ctx ends the Job
// is deleted and the run is KILLED.
func (r *runner) followJob(ctx context.Context, k kubectlCmd, name, ns, runID string, every time.Duration) (tracking.RunStatus, error) {
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		out, err := k.run(ctx, "get", "job", name, "-n", ns, "-o", "json")
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			return tracking.StatusFailed, fmt.Errorf("kubectl get job %s: %w: %s", name, err, out)
		}
		var st struct {
			Status struct {
				StartTime  string `json:"startTime"`
				Conditions []struct {
					Type   string `json:"type"`
					Status string `json:"status"`
				} `json:"conditions"`
			} `json:"status"`
		}
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			return tracking.StatusFailed, fmt.Errorf("kubectl get job %s: %w", name, err)
		}
		for _, c := range st.Status.Conditions {
			if c.Status != "True" {
				continue
			}
			switch c.Type {
			case "Complete":
				return tracking.StatusFinished, nil
			case "Failed":
				return tracking.StatusFailed, nil
			}
		}
		select {
		case <-ctx.Done():
		case <-ticker.C:
			continue
		}
		break
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if out, err := k.run(dctx, "delete", "job", name, "-n", ns, "--wait=false"); err != nil {
		return tracking.StatusKilled, fmt.Errorf("deleting job %s: %w: %s", name, err, out)
	}
	return tracking.StatusKilled, fmt.Errorf("%w: job %s deleted: %w", ErrFailed, name, context.Cause(ctx))
}
