package pack

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Where things are in an image.
const (
	// ModelDir is where the model directory goes: SageMaker's location,
	// where `mlship serve` without a model argument looks.
	ModelDir = "/opt/ml/model"
	// BinDir holds the mlship executable.
	BinDir = "/opt/mlship/bin"
	// LibDir holds the native libraries the serving flavor loads.
	LibDir = "/opt/mlship/lib"
	// WorkingDir is the image's working directory.
	WorkingDir = "/opt/ml"
	// Port is the port the image serves on (SageMaker's).
	Port = 8080
)

// Entrypoint is the image's entrypoint; the command is Cmd. A runtime
// passing its own arguments (SageMaker passes `serve`) replaces Cmd only.
var (
	Entrypoint = []string{BinDir + "/mlship"}
	Cmd        = []string{"serve", ModelDir}
)

// DefaultPlatform is the only platform images are built for so far.
const DefaultPlatform = "linux/amd64"

// Options say how to build an image. The zero value of each field is a
// usable default, except Model.
type Options struct {
	// Model is the model to pack: a directory, its MLmodel file or a
	// file:// URI.
	Model string
	// Flavor forces the flavor the image serves; empty: the model's
	// preferred native flavor.
	Flavor string
	// Base is the base image: BaseHost ("host", the default), "oci:DIR" or
	// "oci:DIR:REF", an OCI layout directory, a `docker save` tarball, or a
	// registry reference.
	Base string
	// Binary is the mlship executable to put in the image; empty: the
	// running one.
	Binary string
	// Platform is "os/arch"; only linux/amd64 so far.
	Platform string
	// Epoch, when not zero, is every timestamp in the image: the files' and
	// the image's creation time (the SOURCE_DATE_EPOCH convention). Zero:
	// files carry the Unix epoch and the image the model's
	// utc_time_created.
	Epoch time.Time
	// Version is mlship's version, recorded in a label.
	Version string
	// Labels are added to (and override) the builder's labels.
	Labels map[string]string
	// Env is added to the image's environment ("KEY=VALUE").
	Env []string
	// PythonEnv is a prepared, self-contained Python environment (its
	// interpreter, standard library and packages) to add at PythonDir, so
	// that a python_function model can be packed; see readPythonEnv and
	// docs/images.md. Empty: only native flavors are packed.
	PythonEnv string
	// Getenv and CacheDir are where native libraries are looked for
	// (MLSHIP_ONNXRUNTIME_LIB, LD_LIBRARY_PATH, mlship's cache), as the
	// flavors look at serve time. Nil Getenv: an empty environment.
	Getenv   func(string) string
	CacheDir string
	// Keychain authenticates pulls of a registry base; nil:
	// authn.DefaultKeychain (docker config and credential helpers).
	Keychain authn.Keychain
	// Insecure allows plain HTTP and unverified TLS to the base's
	// registry. (Loopback registries are spoken to over HTTP anyway.)
	Insecure bool
	// Transport carries registry requests; nil: remote.DefaultTransport.
	Transport http.RoundTripper
	// TempDir is where layers are spooled (unlinked files); empty: the
	// system's.
	TempDir string
	// LayerCache, when set, is a directory keeping the base, runtime and
	// Python environment layers between builds (keyed by the hashes of
	// their contents), so a model-only change compresses only the model
	// layer. The six most recently used entries are kept.
	LayerCache string
	// Level is the gzip level of the layers built; 0: the default (6).
	Level int
	// Logger receives progress; nil: discarded.
	Logger *slog.Logger
}

func (o Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

func (o Options) remoteOptions(ctx context.Context) []remote.Option {
	kc := o.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(kc)}
	if t := transport(o.Transport, o.Insecure); t != nil {
		opts = append(opts, remote.WithTransport(t))
	}
	return opts
}
