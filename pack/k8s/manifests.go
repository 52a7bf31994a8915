// Package k8s writes Kubernetes manifests that run a model image built by
// mlship (build-docker or generate-dockerfile): a Deployment and a Service,
// and a KServe InferenceService with the image as a custom predictor
// speaking the Open Inference Protocol.
//
// The manifests follow what `mlship serve` does rather than generic
// defaults: probes on /v2/health/ready and /v2/health/live, a startup probe
// long enough for python_function models to load before the port opens,
// and a termination grace period computed from the drain timings passed
// to the server. Output is deterministic YAML (go.yaml.in/yaml/v3), with
// comments explaining the choices a reader would otherwise wonder about.
package k8s

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/mlship/mlship/mlmodel"
)

// Kinds of manifest Render can write.
const (
	KindDeployment       = "Deployment"
	KindService          = "Service"
	KindInferenceService = "InferenceService"
)

// The image contract (see pack/dockerfile and pack): where the model is,
// the port, and the server's command.
const (
	modelPath     = "/opt/ml/model"
	containerPort = 8080
	portName      = "http"
	pythonFlavor  = mlmodel.PyFuncFlavorName
)

// Defaults of Options.
const (
	DefaultCPU          = "1"
	DefaultMemory       = "1Gi"
	DefaultDrainGrace   = 5 * time.Second
	DefaultDrainTimeout = 30 * time.Second
	// ShutdownMargin is added to the drain timings for the rest of the
	// shutdown: stopping the batcher and closing the model (Python workers
	// get SIGTERM and a moment to exit).
	ShutdownMargin = 5 * time.Second
	// Startup allowances before the port opens (the model loads first).
	DefaultPythonStartup = 5 * time.Minute // mlship serve's --worker-start-timeout
	DefaultNativeStartup = 1 * time.Minute
)

// Options describe the deployment. Image is required; the zero value of
// every other field picks a default.
type Options struct {
	Image     string // image reference, e.g. registry.example/iris@sha256:...
	Name      string // resource name (default: the model name made a DNS label)
	Namespace string // "" leaves it to kubectl's context

	// ModelName is the model's name in the Open Inference Protocol
	// (/v2/models/NAME); default: as `mlship serve` derives it.
	ModelName string
	// Flavor is the flavor the image serves ("python_function" or a native
	// one); ForceFlavor passes it as --flavor (the image was built for a
	// flavor `mlship serve` would not pick itself).
	Flavor      string
	ForceFlavor bool

	Replicas              int32  // default 1
	CPU, Memory           string // requests (defaults 1 and 1Gi)
	CPULimit, MemoryLimit string // limits (defaults: no CPU limit, memory = request)
	// Workers is the python_function worker count (default: the CPU
	// request rounded up). A container sees the node's CPUs, so the
	// server's own default (one per CPU) would start too many.
	Workers int

	DrainGrace, DrainTimeout time.Duration // passed to the server; default 5s and 30s
	StartupTimeout           time.Duration // longest load before the port opens

	// WritableRoot leaves the root filesystem writable (for models that
	// write outside /tmp).
	WritableRoot bool

	// Kinds selects the manifests (default: all three).
	Kinds []string
}

// Document is one rendered manifest.
type Document struct {
	Kind, Name string
	YAML       []byte
}

// ModelName is the model's Open Inference Protocol name as `mlship serve`
// derives it (serve's modelName): the override, else
// registered_model_meta's name, else the model directory's name.
func ModelName(m *mlmodel.Model, override string) string {
	if override != "" {
		return override
	}
	if meta, err := m.RegisteredModelMeta(); err == nil && meta != nil && meta.Name != "" {
		return meta.Name
	}
	if m.Dir != "" {
		return filepath.Base(m.Dir)
	}
	return "model"
}

// Render builds the manifests for m.
func Render(m *mlmodel.Model, o Options) ([]Document, error) {
	r, err := newRenderer(m, o)
	if err != nil {
		return nil, err
	}
	kinds := o.Kinds
	if len(kinds) == 0 {
		kinds = []string{KindDeployment, KindService, KindInferenceService}
	}
	var docs []Document
	for _, k := range kinds {
		var node *yaml.Node
		switch k {
		case KindDeployment:
			node, err = r.deployment()
		case KindService:
			node, err = r.service()
		case KindInferenceService:
			node, err = r.inferenceService()
		default:
			return nil, fmt.Errorf("unknown manifest kind %q (want %s, %s or %s)", k, KindDeployment, KindService, KindInferenceService)
		}
		if err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		enc := yaml.NewEncoder(&buf)
		enc.SetIndent(2)
		if err := enc.Encode(node); err != nil {
			return nil, err
		}
		enc.Close()
		docs = append(docs, Document{Kind: k, Name: r.name, YAML: buf.Bytes()})
	}
	return docs, nil
}

// renderer holds the resolved options.
type renderer struct {
	o         Options
	m         *mlmodel.Model
	name      string
	modelName string
	python    bool
	workers   int
	startup   time.Duration
	grace     int64 // terminationGracePeriodSeconds
}

var quantityRe = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$`)

func newRenderer(m *mlmodel.Model, o Options) (*renderer, error) {
	if o.Image == "" {
		return nil, errors.New("an image reference is required (--image)")
	}
	if o.Flavor == "" {
		return nil, errors.New("the serving flavor is required")
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.Replicas < 0 {
		return nil, fmt.Errorf("replicas %d: must be at least 1", o.Replicas)
	}
	if o.CPU == "" {
		o.CPU = DefaultCPU
	}
	if o.Memory == "" {
		o.Memory = DefaultMemory
	}
	if o.MemoryLimit == "" {
		o.MemoryLimit = o.Memory
	}
	for _, q := range []struct{ flag, v string }{{"cpu", o.CPU}, {"memory", o.Memory}, {"cpu-limit", o.CPULimit}, {"memory-limit", o.MemoryLimit}} {
		if q.v != "" && !quantityRe.MatchString(q.v) {
			return nil, fmt.Errorf("--%s %q is not a Kubernetes quantity (e.g. 500m, 2, 1Gi)", q.flag, q.v)
		}
	}
	if o.DrainGrace == 0 {
		o.DrainGrace = DefaultDrainGrace
	}
	if o.DrainTimeout == 0 {
		o.DrainTimeout = DefaultDrainTimeout
	}
	if o.DrainGrace < 0 || o.DrainTimeout < 0 || o.StartupTimeout < 0 || o.Workers < 0 {
		return nil, errors.New("durations and --workers must not be negative")
	}
	r := &renderer{o: o, m: m, modelName: ModelName(m, o.ModelName), python: o.Flavor == pythonFlavor}
	r.name = o.Name
	if r.name == "" {
		r.name = dnsLabel(r.modelName)
	} else if dnsLabel(r.name) != r.name {
		return nil, fmt.Errorf("name %q is not a DNS label (lowercase letters, digits and '-', starting with a letter, at most 63 characters); %q would be", r.name, dnsLabel(r.name))
	}
	r.startup = o.StartupTimeout
	if r.startup == 0 {
		r.startup = DefaultNativeStartup
		if r.python {
			r.startup = DefaultPythonStartup
		}
	}
	if r.python {
		r.workers = o.Workers
		if r.workers == 0 {
			r.workers = int(math.Ceil(cpuCores(o.CPU)))
		}
		if r.workers < 1 {
			r.workers = 1
		}
	}
	r.grace = int64(math.Ceil((o.DrainGrace + o.DrainTimeout + ShutdownMargin).Seconds()))
	return r, nil
}

// cpuCores reads a CPU quantity ("500m", "2", "1.5") as cores.
func cpuCores(q string) float64 {
	if v, ok := strings.CutSuffix(q, "m"); ok {
		n, _ := strconv.ParseFloat(v, 64)
		return n / 1000
	}
	n, _ := strconv.ParseFloat(q, 64)
	return n
}

var nonLabel = regexp.MustCompile(`[^a-z0-9-]+`)

// dnsLabel makes s an RFC 1035 label, as Service and InferenceService
// names must be: lowercase letters, digits and '-', starting with a letter,
// ending with a letter or digit, at most 63 characters.
func dnsLabel(s string) string {
	s = nonLabel.ReplaceAllString(strings.ToLower(s), "-")
	s = strings.TrimLeft(s, "-0123456789")
	if len(s) > 63 {
		s = s[:63]
	}
	s = strings.TrimRight(s, "-")
	for strings.Contains(s, "--") {
		s = strings.ReplaceAll(s, "--", "-")
	}
	if s == "" {
		return "model"
	}
	return s
}

// args are the server's arguments: the image's command plus what the
// manifests depend on (the V2 name, the drain timings the grace period is
// computed from, the worker count).
func (r *renderer) args() []string {
	a := []string{"serve", modelPath, "--host", "0.0.0.0", "--port", strconv.Itoa(containerPort),
		"--model-name", r.modelName,
		"--drain-grace", r.o.DrainGrace.String(), "--drain-timeout", r.o.DrainTimeout.String()}
	if r.python {
		a = append(a, "--workers", strconv.Itoa(r.workers))
	}
	if r.o.ForceFlavor {
		a = append(a, "--flavor", r.o.Flavor)
	}
	return a
}

func (r *renderer) labels() map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":       r.name,
		"app.kubernetes.io/component":  "model-server",
		"app.kubernetes.io/managed-by": "mlship",
	}
}

func (r *renderer) selector() map[string]string {
	return map[string]string{"app.kubernetes.io/name": r.name}
}

// annotations record which model the manifests serve (the image's labels
// say the same).
func (r *renderer) annotations() map[string]string {
	a := map[string]string{"mlship.io/flavor": r.o.Flavor}
	if r.m.ModelUUID != "" {
		a["mlship.io/model-uuid"] = r.m.ModelUUID
	}
	if r.m.RunID != "" {
		a["mlship.io/run-id"] = r.m.RunID
	}
	return a
}

func (r *renderer) meta() ObjectMeta {
	return ObjectMeta{Name: r.name, Namespace: r.o.Namespace, Labels: r.labels(), Annotations: r.annotations()}
}

func (r *renderer) resources() Resources {
	res := Resources{
		Requests: map[string]string{"cpu": r.o.CPU, "memory": r.o.Memory},
		Limits:   map[string]string{"memory": r.o.MemoryLimit},
	}
	if r.o.CPULimit != "" {
		res.Limits["cpu"] = r.o.CPULimit
	}
	return res
}

func probe(path string, period, timeout, failures int32) *Probe {
	return &Probe{HTTPGet: HTTPGetAction{Path: path, Port: portName}, PeriodSeconds: period, TimeoutSeconds: timeout, FailureThreshold: failures}
}

func ptr[T any](v T) *T { return &v }

// container is the server container; knative drops what Knative-based
// KServe rejects (startupProbe, volumes).
func (r *renderer) container(name string, knative bool) Container {
	c := Container{
		Name:  name,
		Image: r.o.Image,
		Args:  r.args(),
		Ports: []ContainerPort{{Name: portName, ContainerPort: containerPort, Protocol: "TCP"}},
		// The readiness check of a python_function model asks a worker,
		// allowing it 5 s: the timeout leaves room for that.
		ReadinessProbe: probe("/v2/health/ready", 5, 6, 3),
		LivenessProbe:  probe("/v2/health/live", 10, 5, 3),
		Resources:      r.resources(),
		SecurityContext: &SecurityContext{
			RunAsNonRoot:             ptr(true),
			AllowPrivilegeEscalation: ptr(false),
			Capabilities:             &Capabilities{Drop: []string{"ALL"}},
		},
	}
	period := int32(5)
	failures := int32(math.Ceil(r.startup.Seconds() / float64(period)))
	if failures < 1 {
		failures = 1
	}
	if knative {
		// No startup probe: hold liveness off for the longest load instead.
		c.LivenessProbe.InitialDelaySeconds = int32(math.Ceil(r.startup.Seconds()))
		c.Ports[0].Name = "" // Knative names the port itself (http1 or h2c)
		c.ReadinessProbe.HTTPGet.Port = containerPort
		c.LivenessProbe.HTTPGet.Port = containerPort
		return c
	}
	c.StartupProbe = probe("/v2/health/live", period, 2, failures)
	if !r.o.WritableRoot {
		c.SecurityContext.ReadOnlyRootFilesystem = ptr(true)
		c.VolumeMounts = []VolumeMount{{Name: "tmp", MountPath: "/tmp"}}
	}
	return c
}

func (r *renderer) deployment() (*yaml.Node, error) {
	pod := PodSpec{
		TerminationGracePeriodSeconds: &r.grace,
		SecurityContext:               &PodSecurityContext{RunAsNonRoot: ptr(true), SeccompProfile: &SeccompProfile{Type: "RuntimeDefault"}},
		Containers:                    []Container{r.container("mlship", false)},
	}
	if !r.o.WritableRoot {
		pod.Volumes = []Volume{{Name: "tmp", EmptyDir: &EmptyDir{}}}
	}
	podMeta := ObjectMeta{Labels: r.labels(), Annotations: r.annotations()}
	podMeta.Annotations["prometheus.io/scrape"] = "true"
	podMeta.Annotations["prometheus.io/port"] = strconv.Itoa(containerPort)
	podMeta.Annotations["prometheus.io/path"] = "/metrics"
	d := Deployment{
		APIVersion: "apps/v1",
		Kind:       KindDeployment,
		Metadata:   r.meta(),
		Spec: DeploymentSpec{
			Replicas: r.o.Replicas,
			Selector: LabelSelector{MatchLabels: r.selector()},
			Strategy: DeploymentStrategy{Type: "RollingUpdate", RollingUpdate: &RollingUpdateDeployment{MaxUnavailable: 0, MaxSurge: 1}},
			Template: PodTemplateSpec{Metadata: podMeta, Spec: pod},
		},
	}
	n, err := toNode(d)
	if err != nil {
		return nil, err
	}
	c := "spec.template.spec.containers.0."
	argsComment := "The image's command, plus what these manifests depend on: the model's name in the " +
		"Open Inference Protocol and the drain timings the grace period is computed from."
	startupComment := fmt.Sprintf("The model loads before the port opens; this allows %s for that. "+
		"Liveness checks start once it succeeds.", shortDuration(r.startup))
	if r.python {
		startupComment = fmt.Sprintf("The model loads before the port opens; this allows %s for that "+
			"(the Python workers import the model's libraries and unpickle it). Liveness checks start once it succeeds.",
			shortDuration(r.startup))
		argsComment = "The image's command, plus what these manifests depend on: the model's name in the " +
			"Open Inference Protocol, the drain timings the grace period is computed from, and one Python " +
			"worker per requested CPU (the container sees all the node's CPUs)."
	}
	comments := []struct{ path, text string }{
		{"spec.strategy", "Start a new pod (and let it become ready) before stopping an old one: no capacity is lost during a rollout."},
		{"spec.template.spec.terminationGracePeriodSeconds", fmt.Sprintf(
			"On SIGTERM mlship drains by itself: it keeps serving for --drain-grace (%s) while /v2/health/ready "+
				"reports not-ready, so the endpoints controller and kube-proxy stop sending new requests, then stops "+
				"accepting connections and lets in-flight requests finish within --drain-timeout (%s). The grace period "+
				"covers both plus %s to close the model. No preStop hook is needed: serving on during --drain-grace is "+
				"what a preStop sleep would otherwise be added for.",
			r.o.DrainGrace, r.o.DrainTimeout, ShutdownMargin)},
		{c + "args", argsComment},
		{c + "startupProbe", startupComment},
		{c + "readinessProbe", "Ready once the model is loaded and warmed up; not ready again while draining after SIGTERM."},
		{c + "livenessProbe", "Answers as long as the server runs, also while it drains."},
	}
	if !r.o.WritableRoot {
		tmp := "The root filesystem is read-only; /tmp is writable."
		if r.python {
			tmp = "The root filesystem is read-only; /tmp is writable (the Python workers talk to the server over Unix sockets there)."
		}
		comments = append(comments, struct{ path, text string }{c + "volumeMounts", tmp})
	}
	for _, cm := range comments {
		if err := setComment(n, cm.path, cm.text); err != nil {
			return nil, err
		}
	}
	return n, nil
}

func (r *renderer) service() (*yaml.Node, error) {
	s := Service{
		APIVersion: "v1",
		Kind:       KindService,
		Metadata:   r.meta(),
		Spec: ServiceSpec{
			Type:     "ClusterIP",
			Selector: r.selector(),
			Ports:    []ServicePort{{Name: portName, Port: containerPort, TargetPort: portName, Protocol: "TCP"}},
		},
	}
	return toNode(s)
}

func (r *renderer) inferenceService() (*yaml.Node, error) {
	c := r.container("kserve-container", true)
	c.Env = append(c.Env, EnvVar{Name: "PROTOCOL", Value: "v2"})
	isvc := InferenceService{
		APIVersion: "serving.kserve.io/v1beta1",
		Kind:       KindInferenceService,
		Metadata:   r.meta(),
		Spec: InferenceServiceSpec{Predictor: PredictorSpec{
			MinReplicas: ptr(r.o.Replicas),
			Containers:  []Container{c},
		}},
	}
	n, err := toNode(isvc)
	if err != nil {
		return nil, err
	}
	p := "spec.predictor.containers"
	comments := []struct{ path, text string }{
		{p, "A custom predictor: KServe routes to this container's port 8080. Serverless (Knative) KServe " +
			"accepts neither startupProbe nor terminationGracePeriodSeconds, so liveness waits for the longest " +
			"load instead, and Knative's queue-proxy drains requests on scale-down."},
		{p + ".0.env.0", "KServe's protocolVersion for a custom container: mlship serves the Open Inference " +
			"Protocol (V2) under /v2, as well as MLflow's /invocations."},
	}
	for _, cm := range comments {
		if err := setComment(n, cm.path, cm.text); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// shortDuration prints 5m rather than 5m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func toNode(v any) (*yaml.Node, error) {
	var n yaml.Node
	if err := n.Encode(v); err != nil {
		return nil, err
	}
	return &n, nil
}

// setComment puts text as a head comment on the key at path (dot-separated
// mapping keys; numbers index sequences, whose item then gets it).
func setComment(n *yaml.Node, path, text string) error {
	parts := strings.Split(path, ".")
	cur := n
	var target *yaml.Node
	for _, p := range parts {
		switch cur.Kind {
		case yaml.MappingNode:
			target = nil
			for i := 0; i+1 < len(cur.Content); i += 2 {
				if cur.Content[i].Value == p {
					target, cur = cur.Content[i], cur.Content[i+1]
					break
				}
			}
		case yaml.SequenceNode:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(cur.Content) {
				target = nil
				break
			}
			cur = cur.Content[i]
			target = cur
		}
		if target == nil {
			return fmt.Errorf("manifest comment: no %q in %s", p, path)
		}
	}
	target.HeadComment = wrap(text, 96)
	return nil
}

// wrap breaks text into lines of at most width columns.
func wrap(text string, width int) string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(text) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	if line != "" {
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n")
}
