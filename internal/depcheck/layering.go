package depcheck

// core is what any library package may build on: the two leaves and the
// shared plumbing. internal/cli is under internal/ but is kept out by a
// Confine below, not by every list here.
var core = []string{"mlmodel", "columnar", "internal/..."}

func with(extra ...string) []string { return append(extra, core...) }

// Layering is mlship's dependency policy (ARCHITECTURE.md "Dependency
// direction", STYLE.md §3). One line per package or subtree: a new
// top-level package adds its Rule here (and a deps_test.go calling
// Layering.Assert). Lines for packages that do not exist yet record the
// design so the first commit of each is already held to it.
var Layering = Policy{
	Rules: []Rule{
		// Leaves.
		{Pkgs: "mlmodel", Allow: []string{"internal/pyjson"}},
		{Pkgs: "columnar"},
		{Pkgs: "internal/...", Allow: []string{"internal/...", "mlmodel", "columnar"}},
		{Pkgs: "internal/loadgen", Allow: []string{"mlmodel", "columnar", "internal/pyjson"}}, // a client: bodies come from the descriptor, not from server code

		// Flavors see the leaves and the flavors package, never one another:
		// only flavors/builtin gathers them (flavortest is imported by the
		// flavors' tests, which this graph does not include).
		{Pkgs: "flavors", Allow: core},
		{Pkgs: "flavors/...", Allow: with("./...", "flavors")},
		{Pkgs: "flavors/builtin", Allow: with("flavors/...")},
		// The one exception: a TensorFlow SavedModel is converted to ONNX
		// and run by the ONNX flavor's own session code, not a second copy.
		{Pkgs: "flavors/tensorflow/...", Allow: with("./...", "flavors", "flavors/onnx")},

		// Consumers of the Predictor interface, never of a concrete flavor.
		{Pkgs: "serve/...", Allow: with("flavors", "serve/...")},
		// predict reads JSON and CSV exactly as /invocations does, so it
		// shares the MLflow request codec (serve/scoring, no HTTP in it).
		{Pkgs: "predict/...", Allow: with("flavors", "predict/...", "serve/scoring")},

		// Packaging goes through the CLI contract, not through serve.
		{Pkgs: "pack/...", Allow: with("pack/...")},
		// tracking imports nothing of ours but mlmodel (and its own parts).
		{Pkgs: "tracking/...", Allow: []string{"tracking/...", "mlmodel", "internal/pyjson"}},
		// The REST server answers with MLflow's error envelope, as serve does.
		{Pkgs: "tracking/server/...", Allow: []string{"tracking/...", "mlmodel", "internal/pyjson", "internal/apierr"}},
		{Pkgs: "projects/...", Allow: with("projects/...", "tracking/...")},

		// The CLI wires everything together.
		{Pkgs: "internal/cli/...", Allow: []string{"..."}},
		{Pkgs: "cmd/...", Allow: []string{"..."}},
		// Examples are programs like the CLI. (That they use only public
		// packages is for review: they reach internal/pyjson through
		// mlmodel, and Rules count dependencies, not direct imports.)
		{Pkgs: "examples/...", Allow: []string{"..."}},
		// Benchmark programs measure the whole stack and its raw parts.
		{Pkgs: "bench/...", Allow: []string{"..."}},
	},
	Confines: []Confine{
		// Nothing imports the CLI but its main package.
		{Pkg: "internal/cli/...", By: []string{"cmd/mlship", "internal/cli/..."}},
		// Test helpers stay out of binaries: only _test.go files, which the
		// graph leaves out, may import them.
		{Pkg: "flavors/flavortest"},
		{Pkg: "tracking/storetest"},
		{Pkg: "pack/azureml/azuremltest"},
		{Pkg: "internal/testenv"},
		{Pkg: "internal/depcheck"},
		// cgo stays inside the flavor that needs it (STYLE.md §4.9).
		// (bench/latency times raw ONNX Runtime as the floor mlship is
		// compared against.)
		{Pkg: "github.com/yalue/onnxruntime_go/...", By: []string{"flavors/onnx/...", "bench/..."}},
		// echo types stay at the HTTP edge (STYLE.md §4.10): codecs in
		// serve/scoring take plain Go and Arrow values.
		{Pkg: "github.com/labstack/echo/v4/...", By: []string{"serve", "tracking/server/..."}},
		// Cloud SDKs stay in their deployer (STYLE.md §4.9); the CLI builds
		// the credential, since it is the one place that reads the environment.
		{Pkg: "github.com/Azure/azure-sdk-for-go/...", By: []string{"pack/azureml/...", "internal/cli/..."}},
		// Only the CLI reads flags.
		{Pkg: "github.com/spf13/cobra/...", By: []string{"internal/cli/...", "cmd/..."}},
		{Pkg: "github.com/spf13/pflag/...", By: []string{"internal/cli/...", "cmd/..."}},
	},
}
