package cli

import (
	"debug/buildinfo"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mlship/mlship/pack"
)

// buildDockerOptions are the flags of `mlship build-docker` (and `mlship
// models build-docker`): MLflow's, plus where the image goes.
type buildDockerOptions struct {
	model     string
	name      string
	base      string
	binary    string
	platform  string
	flavor    string
	push      bool
	ociLayout string
	tarball   string
	insecure  bool
	labels    []string
	noCache   bool
	pythonEnv string

	// MLflow flags accepted for compatibility.
	envManager     string
	installMLflow  bool
	mlflowHome     string
	installJava    bool
	enableMLServer bool
}

func (o *buildDockerOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVarP(&o.model, "model-uri", "m", "", "model to pack: a directory, its MLmodel file, a file:// URI, or runs:/<run_id>/<path> (MLFLOW_TRACKING_URI)")
	fs.StringVarP(&o.name, "name", "n", "mlflow-pyfunc-servable", "image name (REGISTRY/REPOSITORY[:TAG]), as MLflow's --name")
	fs.StringVar(&o.base, "base-image", pack.BaseHost, "base image: host (this machine's C runtime, works offline), a registry reference, oci:DIR[:REF], an OCI layout directory, or a docker save tarball")
	fs.StringVar(&o.binary, "mlship-binary", "", "mlship executable to put in the image (default: this one)")
	fs.StringVar(&o.platform, "platform", pack.DefaultPlatform, "image platform (only linux/amd64 so far)")
	fs.StringVar(&o.flavor, "flavor", "", "flavor the image serves (default: the model's preferred native flavor)")
	fs.BoolVar(&o.push, "push", false, "push the image to the registry its --name names (credentials: docker config and credential helpers)")
	fs.StringVar(&o.ociLayout, "oci-layout", "", "write the image into this OCI image layout directory")
	fs.StringVar(&o.tarball, "tarball", "", "write a tarball that docker load reads to `FILE` (- for standard output)")
	fs.BoolVar(&o.insecure, "insecure-registry", false, "allow plain HTTP and unverified TLS to registries (loopback registries always use HTTP)")
	fs.StringArrayVar(&o.labels, "label", nil, "add a label KEY=VALUE to the image (repeatable)")
	fs.StringVar(&o.pythonEnv, "python-env", "", "add this prepared, self-contained Python environment (`DIR` with bin/python3, its standard library and the model's packages) at /opt/mlship/python, to serve a python_function model (docs/images.md)")
	fs.BoolVar(&o.noCache, "no-layer-cache", false, "compress the base and runtime layers again instead of reusing them from mlship's cache (MLSHIP_CACHE_DIR/layers)")
	fs.StringVar(&o.envManager, "env-manager", "", "accepted for MLflow compatibility; native flavors need no Python environment")
	fs.BoolVar(&o.installMLflow, "install-mlflow", false, "accepted for MLflow compatibility; the image does not need MLflow")
	fs.StringVar(&o.mlflowHome, "mlflow-home", "", "accepted for MLflow compatibility; ignored")
	fs.BoolVar(&o.installJava, "install-java", false, "accepted for MLflow compatibility; ignored")
	fs.BoolVar(&o.enableMLServer, "enable-mlserver", false, "accepted for MLflow compatibility; ignored")
	_ = fs.MarkHidden("mlflow-home")
	_ = fs.MarkHidden("install-java")
	_ = fs.MarkHidden("enable-mlserver")
}

// NewCmdBuildDocker is `mlship build-docker -m MODEL -n NAME`.
func NewCmdBuildDocker(d *deps) *cobra.Command {
	o := &buildDockerOptions{}
	cmd := &cobra.Command{
		Use:   "build-docker -m MODEL -n NAME",
		Short: "Build a container image serving a model, without a Docker daemon",
		Long: "Build an OCI image that serves the model with `mlship serve` on port 8080 (SageMaker's\n" +
			"container contract): a base, a layer with mlship and the native libraries the model's\n" +
			"flavor loads, and a layer with the model at /opt/ml/model. No container engine is used.\n" +
			"A python_function model needs --python-env DIR, a prepared Python environment that goes in\n" +
			"as a layer at /opt/mlship/python.\n" +
			"The same inputs give the same digest, and a model-only change rebuilds only the model layer.\n" +
			"See docs/images.md.",
		Example: "  mlship build-docker -m ./model -n 127.0.0.1:5000/iris:1 --push\n" +
			"  mlship build-docker -m ./model -n iris:1 --tarball iris.tar && docker load -i iris.tar\n" +
			"  mlship build-docker -m ./model -n iris:1 --oci-layout ./images\n" +
			"  mlship build-docker -m ./sklearn-model -n iris-sklearn:1 --python-env ./pyenv --tarball iris.tar",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBuildDocker(cmd, d, o)
		},
	}
	o.AddFlags(cmd.Flags())
	_ = cmd.MarkFlagRequired("model-uri")
	return cmd
}

func runBuildDocker(cmd *cobra.Command, d *deps, o *buildDockerOptions) error {
	ctx := cmd.Context()
	log := d.logger()
	if o.envManager != "" || o.installMLflow || o.mlflowHome != "" || o.installJava || o.enableMLServer {
		if o.pythonEnv != "" {
			log.Info("MLflow's environment flags are ignored: the image runs the Python environment given by --python-env")
		} else {
			log.Info("MLflow's environment flags are ignored: the image serves a native flavor in-process")
		}
	}
	var nopts []name.Option
	if o.insecure {
		nopts = append(nopts, name.Insecure)
	}
	ref, err := name.ParseReference(o.name, nopts...)
	if err != nil {
		return fmt.Errorf("--name: %w", err)
	}
	labels := map[string]string{}
	for _, kv := range o.labels {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("--label %q: want KEY=VALUE", kv)
		}
		labels[k] = v
	}
	epoch, err := sourceDateEpoch(d.env.get("SOURCE_DATE_EPOCH"))
	if err != nil {
		return err
	}
	version := Version()
	if o.binary != "" {
		version = binaryVersion(o.binary)
	}
	out := d.stdout
	var tarW io.Writer
	if o.tarball == "-" {
		tarW, out = d.stdout, d.stderr
	}

	layerCache := ""
	if dir := d.env.cacheDir(); dir != "" && !o.noCache {
		layerCache = filepath.Join(dir, "layers")
	}
	if o.model, err = d.resolveModel(ctx, o.model); err != nil {
		return err
	}
	start := time.Now()
	img, err := pack.Build(ctx, pack.Options{
		Model:    o.model,
		Flavor:   o.flavor,
		Base:     o.base,
		Binary:   o.binary,
		Platform: o.platform,
		Epoch:    epoch,
		Version:  version,
		Labels:   labels,
		Getenv:   d.env.get,
		CacheDir: d.env.cacheDir(),
		Insecure: o.insecure,
		Logger:   log,

		PythonEnv: o.pythonEnv,

		LayerCache: layerCache,
	})
	var ferr *pack.FlavorError
	if errors.As(err, &ferr) && (ferr.Python || ferr.Forced == "python_function") {
		return fmt.Errorf("%w; %s", err, pythonImageHint(cmd))
	}
	if err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "image    %s@%s\n", ref.Context().Name(), digest)
	fmt.Fprintf(out, "digest   %s\n", digest)
	if err := printSize(out, img); err != nil {
		return err
	}
	fmt.Fprintf(out, "built in %s\n", time.Since(start).Round(time.Millisecond))

	var pubs pack.MultiPublisher
	var done []string
	if o.ociLayout != "" {
		pubs = append(pubs, pack.Layout{Dir: o.ociLayout})
		done = append(done, fmt.Sprintf("wrote    OCI layout %s (%s)", o.ociLayout, ref.Name()))
	}
	if o.tarball != "" {
		tb := pack.Tarball{Path: o.tarball, W: tarW}
		pubs = append(pubs, tb)
		if tarW == nil {
			done = append(done, fmt.Sprintf("wrote    %s (docker load -i %s)", o.tarball, o.tarball))
		}
	}
	if o.push {
		pubs = append(pubs, &pack.Registry{Insecure: o.insecure, Logger: log})
		done = append(done, "pushed   "+ref.Context().Digest(digest.String()).String())
	}
	if len(pubs) == 0 {
		fmt.Fprintln(out, "(not written anywhere: add --push, --oci-layout DIR or --tarball FILE)")
		return nil
	}
	if _, err := pubs.Publish(ctx, img, ref); err != nil {
		return err
	}
	for _, l := range done {
		fmt.Fprintln(out, l)
	}
	return nil
}

// pythonImageHint says how to get an image for a python_function model,
// naming only what this build has.
func pythonImageHint(cmd *cobra.Command) string {
	var ways []string
	if c, _, err := cmd.Root().Find([]string{"generate-dockerfile"}); err == nil && c != cmd.Root() {
		ways = append(ways, "`mlship generate-dockerfile -m MODEL -d DIR` writes a Dockerfile that installs it")
	}
	if cmd.Flags().Lookup("builder") != nil {
		ways = append(ways, "`--builder docker` builds that Dockerfile with a Docker Engine")
	}
	if cmd.Flags().Lookup("python-env") != nil {
		ways = append(ways, "--python-env DIR adds a prepared Python environment with the model's packages as a layer (docs/images.md)")
	}
	if len(ways) == 0 {
		return "this build of mlship cannot yet make python_function images: export the model to ONNX, or build an image with `mlflow models build-docker`"
	}
	return strings.Join(ways, "; or ")
}

// printSize prints the compressed size, total and per layer as the
// builder's history names them.
func printSize(w io.Writer, img v1.Image) error {
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	var names []string
	for _, h := range cf.History {
		if !h.EmptyLayer {
			names = append(names, h.CreatedBy)
		}
	}
	var total int64
	var parts []string
	for i, l := range layers {
		s, err := l.Size()
		if err != nil {
			return err
		}
		total += s
		label := "base"
		if len(names) == len(layers) {
			switch names[i] {
			case pack.HistoryHostBase:
				label = "host base"
			case pack.HistoryRuntime:
				label = "runtime"
			case pack.HistoryModel:
				label = "model"
			case pack.HistoryPython:
				label = "python"
			}
		}
		parts = append(parts, label+" "+humanBytes(s))
	}
	fmt.Fprintf(w, "size     %s compressed (%d bytes; %s)\n", humanBytes(total), total, strings.Join(parts, ", "))
	return nil
}

// sourceDateEpoch reads SOURCE_DATE_EPOCH (seconds since the Unix epoch),
// the reproducible-builds convention for a fixed timestamp.
func sourceDateEpoch(v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: want seconds since 1970", v)
	}
	return time.Unix(n, 0).UTC(), nil
}

// binaryVersion is the version another mlship binary reports, read from
// the build information the Go toolchain recorded in it.
func binaryVersion(path string) string {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return ""
	}
	for _, s := range bi.Settings {
		if s.Key == "-ldflags" {
			if i := strings.Index(s.Value, "internal/cli.version="); i >= 0 {
				v := s.Value[i+len("internal/cli.version="):]
				if j := strings.IndexAny(v, " '\""); j >= 0 {
					v = v[:j]
				}
				return v
			}
		}
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return strings.TrimPrefix(v, "v")
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return "0.1.0-dev+" + s.Value[:12]
		}
	}
	return "0.1.0-dev"
}
