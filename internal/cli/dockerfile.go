package cli

import (
	"crypto/tls"
	"crypto/x509"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mlship/mlship/internal/ortlib"
	"github.com/mlship/mlship/mlmodel"
	"github.com/mlship/mlship/pack/dockerfile"
)

// generateDockerfileOptions are the flags of `mlship generate-dockerfile`
// (and `mlship models generate-dockerfile`): MLflow's, plus mlship's.
type generateDockerfileOptions struct {
	model     string
	outputDir string
	base      string
	binary    string
	flavor    string
	python    string

	// MLflow flags accepted for compatibility.
	envManager     string
	installMLflow  bool
	mlflowHome     string
	installJava    bool
	enableMLServer bool
}

func (o *generateDockerfileOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVarP(&o.model, "model-uri", "m", "", "model to put in the image: a directory, its MLmodel file, or a file:// URI")
	fs.StringVarP(&o.outputDir, "output-directory", "d", "mlflow-dockerfile", "directory to write the Dockerfile and build context to (as MLflow's)")
	fs.StringVar(&o.base, "base-image", "", "base image (default: python:<the model's Python>-slim for python_function models, as MLflow picks; debian:12-slim for onnx)")
	fs.StringVar(&o.binary, "mlship-binary", "", "mlship executable to put in the image, a Linux build for the image's architecture (default: this one)")
	fs.StringVar(&o.flavor, "flavor", "", "flavor the image serves: onnx or python_function (default: as mlship serve picks, a native flavor first)")
	fs.StringVar(&o.python, "python", "", "python_function models: the interpreter in the base image (default "+dockerfile.DefaultPython+", the python images' one)")
	fs.StringVar(&o.envManager, "env-manager", "", "MLflow's flag: local (the default), virtualenv and uv all install the model's requirements into the image's Python; conda is not supported")
	fs.BoolVar(&o.installMLflow, "install-mlflow", false, "accepted for MLflow compatibility; the image serves with mlship, not MLflow (requirements.txt still installs whatever it lists)")
	fs.StringVar(&o.mlflowHome, "mlflow-home", "", "accepted for MLflow compatibility; ignored")
	fs.BoolVar(&o.installJava, "install-java", false, "accepted for MLflow compatibility; ignored")
	fs.BoolVar(&o.enableMLServer, "enable-mlserver", false, "accepted for MLflow compatibility; ignored")
	_ = fs.MarkHidden("mlflow-home")
	_ = fs.MarkHidden("install-java")
	_ = fs.MarkHidden("enable-mlserver")
}

// NewCmdGenerateDockerfile is `mlship generate-dockerfile -m MODEL -d DIR`.
func NewCmdGenerateDockerfile(d *deps) *cobra.Command {
	o := &generateDockerfileOptions{}
	cmd := &cobra.Command{
		Use:   "generate-dockerfile -m MODEL [-d DIR]",
		Short: "Write a Dockerfile and build context serving a model with mlship",
		Long: "Write DIR/Dockerfile and its build context (the model under DIR/model_dir/<name>, the mlship\n" +
			"binary, and ONNX Runtime for onnx models), as `mlflow models generate-dockerfile` does. The\n" +
			"image serves the model with `mlship serve` on port 8080 as a non-root user. python_function\n" +
			"models get MLflow's base image (python:<the model's Python>-slim) with their requirements\n" +
			"pip-installed before the model is copied; onnx models get a small image without Python.\n" +
			"See docs/dockerfile.md.",
		Example: "  mlship generate-dockerfile -m ./model -d ./image && docker build -t iris:1 ./image\n" +
			"  mlship generate-dockerfile -m ./model --base-image python:3.11-slim-bookworm",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runGenerateDockerfile(d, o)
		},
	}
	o.AddFlags(cmd.Flags())
	_ = cmd.MarkFlagRequired("model-uri")
	return cmd
}

func runGenerateDockerfile(d *deps, o *generateDockerfileOptions) error {
	log := d.logger()
	if o.installMLflow || o.mlflowHome != "" || o.installJava || o.enableMLServer {
		log.Info("--install-mlflow, --mlflow-home, --install-java and --enable-mlserver are ignored: the image serves the model with mlship")
	}
	res, err := generateContext(d, o.model, o.outputDir, dockerfile.Options{
		Flavor:     o.flavor,
		BaseImage:  o.base,
		Python:     o.python,
		EnvManager: o.envManager,
	}, o.binary)
	if err != nil {
		return err
	}
	for _, n := range res.Notes {
		fmt.Fprintln(d.stderr, "note: "+n)
	}
	fmt.Fprintf(d.stdout, "wrote    %s\n", filepath.Join(res.Dir, "Dockerfile"))
	fmt.Fprintf(d.stdout, "model    %s (%s), base %s\n", res.ModelName, res.Flavor, res.BaseImage)
	fmt.Fprintf(d.stdout, "build    docker build -t IMAGE %s\n", res.Dir)
	return nil
}

// generateContext loads the model, finds the binary and the libraries the
// flavor needs on this machine, and writes the build context into dir.
func generateContext(d *deps, model, dir string, opts dockerfile.Options, binary string) (*dockerfile.Result, error) {
	m, err := mlmodel.Load(model)
	if err != nil {
		return nil, err
	}
	flavor, err := dockerfile.ServingFlavor(m, opts.Flavor)
	if err != nil {
		return nil, err
	}
	if binary == "" {
		if binary, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("finding the mlship binary: %w (pass --mlship-binary)", err)
		}
		if runtime.GOOS != "linux" {
			return nil, fmt.Errorf("this mlship is built for %s, and images run Linux: pass --mlship-binary with a linux/%s build", runtime.GOOS, runtime.GOARCH)
		}
	}
	if err := checkLinuxBinary(binary); err != nil {
		return nil, err
	}
	opts.Binary = binary
	if flavor == dockerfile.FlavorONNX {
		lib, err := ortlib.Find(ortlib.SearchFor(d.env.get, d.env.cacheDir()))
		if err != nil {
			return nil, fmt.Errorf("the image needs ONNX Runtime for the onnx flavor: %w", err)
		}
		opts.ONNXRuntime = lib
	}
	return dockerfile.Generate(m, dir, opts)
}

// checkLinuxBinary refuses a binary that cannot run in a Linux image of
// this machine's architecture.
func checkLinuxBinary(p string) error {
	f, err := elf.Open(p)
	if err != nil {
		return fmt.Errorf("the mlship binary %s is not a Linux executable (%v): pass --mlship-binary with a Linux build", p, err)
	}
	defer f.Close()
	want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[runtime.GOARCH]
	if want != 0 && f.Machine != want {
		return fmt.Errorf("the mlship binary %s is built for %v, not this machine's %s", p, f.Machine, runtime.GOARCH)
	}
	return nil
}

// dockerEngine is how to reach the Docker Engine: DOCKER_HOST (default
// unix:///var/run/docker.sock), with TLS when DOCKER_TLS_VERIFY is set
// (certificates from DOCKER_CERT_PATH, default ~/.docker), as the docker
// CLI reads them.
func dockerEngine(env environ) (string, *tls.Config, error) {
	host := env.get("DOCKER_HOST")
	if host == "" {
		host = dockerfile.DefaultHost
	}
	if env.get("DOCKER_TLS_VERIFY") == "" {
		return host, nil, nil
	}
	dir := env.get("DOCKER_CERT_PATH")
	if dir == "" {
		dir = filepath.Join(env.get("HOME"), ".docker")
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	if err != nil {
		return "", nil, fmt.Errorf("DOCKER_TLS_VERIFY: %w", err)
	}
	ca, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		return "", nil, fmt.Errorf("DOCKER_TLS_VERIFY: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return "", nil, errors.New("DOCKER_TLS_VERIFY: no certificate in " + filepath.Join(dir, "ca.pem"))
	}
	return host, &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// withDockerBuilder adds --builder to a build-docker command: "docker"
// builds the generate-dockerfile context with a Docker Engine, under the
// image name --name, instead of the daemonless builder. It reads the
// command's own flags by name (model-uri, name, base-image, mlship-binary,
// flavor, platform, env-manager).
func withDockerBuilder(cmd *cobra.Command, d *deps) *cobra.Command {
	var builder string
	cmd.Flags().StringVar(&builder, "builder", "oci", "oci: build without a daemon; docker: write the generate-dockerfile context and build it with the Docker Engine at DOCKER_HOST (needed for python_function models)")
	daemonless := cmd.RunE
	cmd.RunE = func(c *cobra.Command, args []string) error {
		switch builder {
		case "oci", "":
			return daemonless(c, args)
		case "docker":
			return runEngineBuild(c, d)
		default:
			return fmt.Errorf("--builder must be oci or docker, not %q", builder)
		}
	}
	return cmd
}

// runEngineBuild is build-docker --builder docker.
func runEngineBuild(c *cobra.Command, d *deps) error {
	fs := c.Flags()
	str := func(name string) string {
		if f := fs.Lookup(name); f != nil {
			return f.Value.String()
		}
		return ""
	}
	for _, name := range []string{"push", "oci-layout", "tarball"} {
		if f := fs.Lookup(name); f != nil && f.Changed {
			return fmt.Errorf("--%s is for the daemonless builder; with --builder docker the image goes to the engine's image store (push it with `docker push`)", name)
		}
	}
	base := str("base-image")
	if f := fs.Lookup("base-image"); f != nil && !f.Changed {
		base = "" // the daemonless builder's default is not a Dockerfile base
	}
	host, tlsConf, err := dockerEngine(d.env)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "mlship-docker-context-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	res, err := generateContext(d, str("model-uri"), dir, dockerfile.Options{
		Flavor:     str("flavor"),
		BaseImage:  base,
		EnvManager: str("env-manager"),
	}, str("mlship-binary"))
	if err != nil {
		return err
	}
	for _, n := range res.Notes {
		fmt.Fprintln(d.stderr, "note: "+n)
	}
	tag := str("name")
	id, err := dockerfile.Build(c.Context(), res.Dir, tag, dockerfile.BuildOptions{
		Host:     host,
		TLS:      tlsConf,
		Platform: str("platform"),
		Progress: d.stderr,
		Logger:   d.logger(),
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(d.stdout, "image    %s (%s)\n", tag, strings.TrimSpace(id))
	return nil
}
