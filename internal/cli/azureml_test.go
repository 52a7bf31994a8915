package cli

import (
	"bytes"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/mlship/mlship/internal/testenv"
	"github.com/mlship/mlship/pack/azureml"
	"github.com/mlship/mlship/pack/azureml/azuremltest"
)

// runAzureML runs `mlship azureml ARGS` against the fake ARM, over plain
// HTTP on loopback with the token in a file, as a user would point
// --endpoint-url at a test server.
func runAzureML(t *testing.T, f *azuremltest.ARM, args ...string) (string, error) {
	t.Helper()
	return runAzureMLEnv(t, f, nil, args...)
}

func runAzureMLEnv(t *testing.T, f *azuremltest.ARM, extra map[string]string, args ...string) (string, error) {
	t.Helper()
	tok := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tok, []byte(f.Token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"AZURE_SUBSCRIPTION_ID": f.SubscriptionID}
	maps.Copy(env, extra)
	var stdout, stderr bytes.Buffer
	cmd := New(&stdout, &stderr, func(k string) string { return env[k] })
	cmd.SetArgs(append(args, "-g", f.ResourceGroup, "-w", f.Workspace,
		"--endpoint-url", f.URL, "--access-token-file", tok, "--poll-interval", "5ms"))
	err := cmd.ExecuteContext(t.Context())
	t.Logf("stderr:\n%s", stderr.String())
	return stdout.String(), err
}

var reEnvVersion = regexp.MustCompile(`versions/[0-9a-f]{16}$`)

func TestAzureMLDeployAndDelete(t *testing.T) {
	f := azuremltest.NewARM(t, false)
	const image = "myacr.azurecr.io/mlship/iris@sha256:4f5b1f2c3d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccddeeff"
	out, err := runAzureML(t, f, "azureml", "deploy", "-n", "iris-ep", "--image", image,
		"--instance-count", "2", "--env", "FOO=bar", "--request-timeout", "90s")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"endpoint     iris-ep (created)\n",
		"deployment   blue\n",
		"image        " + image + "\n",
		"traffic      blue=100%\n",
		"scoring_uri  https://iris-ep.westeurope.inference.ml.azure.com/score\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	dep := f.Body("PUT onlineEndpoints/iris-ep/deployments/blue", 0)
	props := dep["properties"].(map[string]any)
	if diff := cmp.Diff(map[string]any{
		"FOO":                                   "bar",
		"MLSHIP_LOG_FORMAT":                     "json",
		"MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT": "90",
	}, props["environmentVariables"]); diff != "" {
		t.Errorf("environment variables (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]any{"requestTimeout": "PT1M30S", "maxConcurrentRequestsPerInstance": 16.0}, props["requestSettings"]); diff != "" {
		t.Errorf("request settings (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]any{"name": "Default", "capacity": 2.0}, dep["sku"]); diff != "" {
		t.Errorf("sku (-want +got):\n%s", diff)
	}

	// A green deployment at 10%: blue keeps the rest.
	out, err = runAzureML(t, f, "azureml", "deploy", "-n", "iris-ep", "--deployment-name", "green", "--image", image, "--traffic-percent", "10")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "traffic      blue=90% green=10%\n") {
		t.Errorf("output:\n%s", out)
	}

	// Deleting a deployment that takes traffic is refused; the endpoint
	// goes with all its deployments.
	if _, err := runAzureML(t, f, "azureml", "delete", "-n", "iris-ep", "--deployment-name", "green"); err == nil || !strings.Contains(err.Error(), "takes 10% of endpoint iris-ep's traffic") {
		t.Errorf("delete of a deployment with traffic: %v", err)
	}
	out, err = runAzureML(t, f, "azureml", "delete", "-n", "iris-ep")
	if err != nil {
		t.Fatal(err)
	}
	if out != "deleted endpoint iris-ep\n" {
		t.Errorf("output %q", out)
	}
	if f.HasEndpoint("iris-ep") {
		t.Error("the endpoint is still there")
	}

	var got []string
	for _, c := range f.Calls() {
		got = append(got, reEnvVersion.ReplaceAllString(c, "versions/V"))
	}
	polls := func(kind, id string) []string {
		return []string{"GET " + kind + "/" + id, "GET " + kind + "/" + id, "GET " + kind + "/" + id}
	}
	var want []string
	add := func(xs ...any) {
		for _, x := range xs {
			switch v := x.(type) {
			case string:
				want = append(want, v)
			case []string:
				want = append(want, v...)
			}
		}
	}
	add("GET onlineEndpoints/iris-ep", "GET workspaces/my-aml-workspace",
		"PUT onlineEndpoints/iris-ep", polls("mfeOperationsStatus", "op-1"), "GET onlineEndpoints/iris-ep",
		"GET environments/mlship-iris-ep/versions/V", "PUT environments/mlship-iris-ep/versions/V",
		"PUT onlineEndpoints/iris-ep/deployments/blue", polls("mfeOperationsStatus", "op-2"), "GET onlineEndpoints/iris-ep/deployments/blue",
		"GET onlineEndpoints/iris-ep",
		"PUT onlineEndpoints/iris-ep", polls("mfeOperationsStatus", "op-3"), "GET onlineEndpoints/iris-ep")
	add("GET onlineEndpoints/iris-ep",
		"GET environments/mlship-iris-ep/versions/V", // the same image: registered before
		"PUT onlineEndpoints/iris-ep/deployments/green", polls("mfeOperationsStatus", "op-4"), "GET onlineEndpoints/iris-ep/deployments/green",
		"GET onlineEndpoints/iris-ep",
		"PUT onlineEndpoints/iris-ep", polls("mfeOperationsStatus", "op-5"), "GET onlineEndpoints/iris-ep")
	add("GET onlineEndpoints/iris-ep")
	add("GET onlineEndpoints/iris-ep", "DELETE onlineEndpoints/iris-ep", polls("mfeOperationResults", "op-6"))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("call sequence (-want +got):\n%s", diff)
	}
}

func TestAzureMLDeployFlags(t *testing.T) {
	f := azuremltest.NewARM(t, false)
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"-n", "iris-ep"}, "say what to deploy"},
		{[]string{"-n", "iris-ep", "--image", "x", "--registry", "myacr"}, "exclusive"},
		{[]string{"-n", "iris-ep", "--registry", "myacr"}, "give -m MODEL"},
		{[]string{"-n", "iris-ep", "--image", "x", "--env", "NOEQUALS"}, "want KEY=VALUE"},
		{[]string{"-n", "iris-ep", "--image", "x", "--all-traffic", "--traffic-percent", "5"}, "exclusive"},
		{[]string{"-n", "iris_ep", "--image", "x"}, "endpoint name"},
		{[]string{"-n", "iris_ep", "-m", "./nowhere", "--registry", "myacr"}, "endpoint name"}, // before any build
		{[]string{"-n", "iris-ep", "--image", "x", "--request-timeout", "5m"}, "request timeout"},
	} {
		_, err := runAzureML(t, f, append([]string{"azureml", "deploy"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.err)
		}
	}
	if calls := f.Calls(); len(calls) != 0 {
		t.Errorf("bad flags reached Azure: %v", calls)
	}
}

// TestAzureMLDeployBuildsAndPushes builds the example model's image, pushes
// it to a real registry through ACR's Azure AD token exchange, and deploys
// the pushed digest.
func TestAzureMLDeployBuildsAndPushes(t *testing.T) {
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		testenv.Missing(t, "the build-and-push test needs Debian's docker-registry: apt-get install -y --no-install-recommends docker-registry")
	}
	_, cache := testenv.ONNXRuntime(t)
	f := azuremltest.NewARM(t, false)
	acr := azuremltest.NewACR(t, bin)
	acr.AADToken = f.Token // one token, as from az account get-access-token
	extra := map[string]string{"MLSHIP_CACHE_DIR": cache, "HOME": os.Getenv("HOME")}
	if lib := os.Getenv("MLSHIP_ONNXRUNTIME_LIB"); lib != "" {
		extra["MLSHIP_ONNXRUNTIME_LIB"] = lib
	}
	model := filepath.Join(testenv.RepoRoot(t), "examples", "iris-onnx", "model")
	out, err := runAzureMLEnv(t, f, extra, "azureml", "deploy", "-n", "iris-ep", "-m", model, "--registry", acr.Host)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^image\s+(\S+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no image line:\n%s", out)
	}
	ref, err := name.NewDigest(m[1])
	if err != nil {
		t.Fatal(err)
	}
	if got := ref.Context().String(); got != acr.Host+"/mlship/iris-ep" {
		t.Errorf("pushed to %s", got)
	}
	if n := acr.Exchanges.Load(); n != 1 {
		t.Errorf("%d token exchanges", n)
	}
	// The environment names the pushed digest.
	var envPut string
	for _, c := range f.Calls() {
		if strings.HasPrefix(c, "PUT environments/") {
			envPut = c
		}
	}
	if envPut == "" {
		t.Fatalf("no environment registered: %v", f.Calls())
	}
	if got := f.Body(envPut, 0)["properties"].(map[string]any)["image"]; got != ref.String() {
		t.Errorf("environment image %v, want %s", got, ref)
	}
	// The registry holds that image, whole, and it serves the model.
	reg, _ := name.NewRegistry(acr.Host)
	img, err := remote.Image(ref, remote.WithAuth(azureml.NewACRAuthenticator(reg, fileToken(f.Token), azureml.ACROptions{})))
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img); err != nil {
		t.Error(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	// The container contract the environment's routes rely on.
	if ep, cmd := cfg.Config.Entrypoint, cfg.Config.Cmd; len(ep) == 0 || !strings.HasSuffix(ep[0], "/mlship") || len(cmd) == 0 || cmd[0] != "serve" {
		t.Errorf("entrypoint %q, command %q", ep, cmd)
	}
	if _, ok := cfg.Config.ExposedPorts["8080/tcp"]; !ok {
		t.Errorf("exposed ports %v", cfg.Config.ExposedPorts)
	}
}
