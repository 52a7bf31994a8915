package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mlship/mlship/mlmodel"
	"github.com/mlship/mlship/pack/dockerfile"
	"github.com/mlship/mlship/pack/k8s"
)

// k8sManifestsOptions are the flags of `mlship k8s manifests`.
type k8sManifestsOptions struct {
	model, image, output string
	o                    k8s.Options
	flavor               string
	kinds                []string
}

func (o *k8sManifestsOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVarP(&o.model, "model-uri", "m", "", "the model the image serves: a directory, its MLmodel file, or a file:// URI")
	fs.StringVar(&o.image, "image", "", "image reference (built by mlship build-docker or from generate-dockerfile's Dockerfile)")
	fs.StringVarP(&o.output, "output", "o", "-", "- for one YAML stream on standard output, or a directory for deployment.yaml, service.yaml and inferenceservice.yaml")
	fs.StringVar(&o.o.Name, "name", "", "name of the Kubernetes objects (default: the model name made a DNS label)")
	fs.StringVarP(&o.o.Namespace, "namespace", "n", "", "namespace (default: none, kubectl's current one)")
	fs.StringVar(&o.o.ModelName, "model-name", "", "model name in the Open Inference Protocol (default: registered_model_meta, else the model directory's name, as mlship serve derives it)")
	fs.StringVar(&o.flavor, "flavor", "", "flavor the image serves, if it was built with --flavor (default: as mlship serve picks)")
	fs.Int32Var(&o.o.Replicas, "replicas", 1, "pods (the InferenceService's minReplicas)")
	fs.StringVar(&o.o.CPU, "cpu", k8s.DefaultCPU, "CPU request")
	fs.StringVar(&o.o.Memory, "memory", k8s.DefaultMemory, "memory request")
	fs.StringVar(&o.o.CPULimit, "cpu-limit", "", "CPU limit (default: none, so the server is not throttled)")
	fs.StringVar(&o.o.MemoryLimit, "memory-limit", "", "memory limit (default: the memory request)")
	fs.IntVar(&o.o.Workers, "workers", 0, "python_function models: worker processes (default: the CPU request, rounded up)")
	fs.DurationVar(&o.o.DrainGrace, "drain-grace", k8s.DefaultDrainGrace, "passed to the server: how long it keeps serving, reporting not-ready, after SIGTERM")
	fs.DurationVar(&o.o.DrainTimeout, "drain-timeout", k8s.DefaultDrainTimeout, "passed to the server: how long in-flight requests may take after that")
	fs.DurationVar(&o.o.StartupTimeout, "startup-timeout", 0, "longest model load the startup probe allows (default: 5m for python_function, 1m otherwise)")
	fs.BoolVar(&o.o.WritableRoot, "writable-root", false, "leave the container's root filesystem writable (for models that write outside /tmp)")
	fs.StringSliceVar(&o.kinds, "kinds", []string{"deployment", "service", "inferenceservice"}, "manifests to write: deployment, service, inferenceservice")
}

// NewCmdK8s is `mlship k8s`.
func NewCmdK8s(d *deps) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "k8s",
		Short: "Kubernetes manifests for model images",
	}
	o := &k8sManifestsOptions{}
	manifests := &cobra.Command{
		Use:   "manifests -m MODEL --image REF [-o DIR|-]",
		Short: "Write a Deployment, a Service and a KServe InferenceService for a model image",
		Long: "Write Kubernetes manifests that run an image serving the model: a Deployment (probes on\n" +
			"/v2/health, a startup probe for slow loads, resources, a termination grace period that covers\n" +
			"mlship's drain, a non-root read-only container), a Service on port 8080, and a KServe\n" +
			"InferenceService using the image as a custom predictor with the Open Inference Protocol.\n" +
			"Apply the Deployment and Service, or the InferenceService, not both. See docs/kubernetes.md.",
		Example: "  mlship k8s manifests -m ./model --image registry.example/iris:1 --kinds deployment,service | kubectl apply -f -\n" +
			"  mlship k8s manifests -m ./model --image registry.example/iris:1 -o deploy/",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runK8sManifests(d, o)
		},
	}
	o.AddFlags(manifests.Flags())
	_ = manifests.MarkFlagRequired("model-uri")
	_ = manifests.MarkFlagRequired("image")
	cmd.AddCommand(manifests)
	return cmd
}

var k8sKinds = map[string]string{
	"deployment":       k8s.KindDeployment,
	"service":          k8s.KindService,
	"inferenceservice": k8s.KindInferenceService,
}

func runK8sManifests(d *deps, o *k8sManifestsOptions) error {
	m, err := mlmodel.Load(o.model)
	if err != nil {
		return err
	}
	flavor, err := dockerfile.ServingFlavor(m, o.flavor)
	if err != nil {
		return err
	}
	auto, _ := dockerfile.ServingFlavor(m, "")
	opts := o.o
	opts.Image, opts.Flavor, opts.ForceFlavor = o.image, flavor, flavor != auto
	opts.Kinds = nil
	for _, k := range o.kinds {
		kind, ok := k8sKinds[strings.ToLower(strings.TrimSpace(k))]
		if !ok {
			return fmt.Errorf("--kinds: unknown manifest %q (want deployment, service or inferenceservice)", k)
		}
		opts.Kinds = append(opts.Kinds, kind)
	}
	docs, err := k8s.Render(m, opts)
	if err != nil {
		return err
	}
	if opts.Name == "" && opts.ModelName == "" && k8s.ModelName(m, "") == "model" {
		fmt.Fprintln(d.stderr, "note: the objects are named \"model\" after the model directory; choose a name with --name (and --model-name)")
	}
	if o.output == "-" {
		for _, doc := range docs {
			fmt.Fprint(d.stdout, "---\n")
			d.stdout.Write(doc.YAML)
		}
		return nil
	}
	if err := os.MkdirAll(o.output, 0o755); err != nil {
		return err
	}
	for _, doc := range docs {
		p := filepath.Join(o.output, strings.ToLower(doc.Kind)+".yaml")
		if err := os.WriteFile(p, doc.YAML, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(d.stdout, "wrote    %s\n", p)
	}
	return nil
}
