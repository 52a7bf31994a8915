package azureml

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mlship/mlship/pack/azureml/azuremltest"
)

const testImage = "mlshiptest.azurecr.io/mlship/iris@sha256:4f5b1f2c3d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccddeeff"

var reVersion = regexp.MustCompile(`versions/[0-9a-f]{16}$`)

// calls is the fake's call log with the environment version (a content
// digest) written as V.
func calls(f *azuremltest.ARM) []string {
	var out []string
	for _, c := range f.Calls() {
		out = append(out, reVersion.ReplaceAllString(c, "versions/V"))
	}
	return out
}

// polls is an operation's status requests: InProgress twice, then the end.
func polls(kind, id string) []string {
	return []string{"GET " + kind + "/" + id, "GET " + kind + "/" + id, "GET " + kind + "/" + id}
}

func seq(parts ...any) []string {
	var out []string
	for _, p := range parts {
		switch v := p.(type) {
		case string:
			out = append(out, v)
		case []string:
			out = append(out, v...)
		}
	}
	return out
}

func TestDeployCreatesEndpoint(t *testing.T) {
	f, c := newFake(t)
	res, err := c.Deploy(t.Context(), Spec{
		Endpoint:              "iris-ep",
		Image:                 testImage,
		InstanceCount:         2,
		Env:                   map[string]string{"MLSHIP_LOG_FORMAT": "json", "FOO": "bar"},
		RequestTimeout:        90 * time.Second,
		MaxConcurrentRequests: 16,
		Readiness:             Probe{InitialDelay: 5 * time.Second, FailureThreshold: 3},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := seq(
		"GET onlineEndpoints/iris-ep",
		"GET workspaces/my-aml-workspace",
		"PUT onlineEndpoints/iris-ep", polls("mfeOperationsStatus", "op-1"), "GET onlineEndpoints/iris-ep",
		"GET environments/mlship-iris-ep/versions/V", "PUT environments/mlship-iris-ep/versions/V",
		"PUT onlineEndpoints/iris-ep/deployments/blue", polls("mfeOperationsStatus", "op-2"), "GET onlineEndpoints/iris-ep/deployments/blue",
		"GET onlineEndpoints/iris-ep",
		"PUT onlineEndpoints/iris-ep", polls("mfeOperationsStatus", "op-3"), "GET onlineEndpoints/iris-ep",
	)
	if diff := cmp.Diff(want, calls(f)); diff != "" {
		t.Errorf("call sequence (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(&Result{
		Endpoint: "iris-ep", Deployment: "blue", CreatedEndpoint: true,
		EnvironmentID: res.EnvironmentID,
		Traffic:       map[string]int32{"blue": 100},
		ScoringURI:    "https://iris-ep.westeurope.inference.ml.azure.com/score",
		SwaggerURI:    "https://iris-ep.westeurope.inference.ml.azure.com/swagger.json",
	}, res); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(res.EnvironmentID, "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/test-rg/providers/Microsoft.MachineLearningServices/workspaces/my-aml-workspace/environments/mlship-iris-ep/versions/") {
		t.Errorf("environment ID %s", res.EnvironmentID)
	}

	// The endpoint is created in the workspace's region with key auth
	// and no traffic; traffic is written once the deployment exists.
	if diff := cmp.Diff(map[string]any{
		"location":   "westeurope",
		"properties": map[string]any{"authMode": "Key"},
	}, f.Body("PUT onlineEndpoints/iris-ep", 0)); diff != "" {
		t.Errorf("endpoint create body (-want +got):\n%s", diff)
	}
	traffic := f.Body("PUT onlineEndpoints/iris-ep", 1)
	if diff := cmp.Diff(map[string]any{"blue": 100.0}, traffic["properties"].(map[string]any)["traffic"]); diff != "" {
		t.Errorf("traffic (-want +got):\n%s", diff)
	}
	if _, ok := traffic["properties"].(map[string]any)["provisioningState"]; ok {
		t.Error("a read-only field was sent back")
	}

	envs := f.Body("PUT environments/mlship-iris-ep/versions/"+res.EnvironmentID[strings.LastIndex(res.EnvironmentID, "/")+1:], 0)
	route := func(p string) map[string]any { return map[string]any{"path": p, "port": 8080.0} }
	if diff := cmp.Diff(map[string]any{
		"image":  testImage,
		"osType": "Linux",
		"inferenceConfig": map[string]any{
			"livenessRoute": route("/ping"), "readinessRoute": route("/ping"), "scoringRoute": route("/invocations"),
		},
	}, pick(envs["properties"].(map[string]any), "image", "osType", "inferenceConfig")); diff != "" {
		t.Errorf("environment (-want +got):\n%s", diff)
	}

	dep := f.Body("PUT onlineEndpoints/iris-ep/deployments/blue", 0)
	if diff := cmp.Diff(map[string]any{"name": "Default", "capacity": 2.0}, dep["sku"]); diff != "" {
		t.Errorf("sku (-want +got):\n%s", diff)
	}
	props := dep["properties"].(map[string]any)
	if diff := cmp.Diff(map[string]any{
		"endpointComputeType":  "Managed",
		"environmentId":        res.EnvironmentID,
		"environmentVariables": map[string]any{"MLSHIP_LOG_FORMAT": "json", "FOO": "bar"},
		"instanceType":         "Standard_DS3_v2",
		"scaleSettings":        map[string]any{"scaleType": "Default"},
		"requestSettings":      map[string]any{"requestTimeout": "PT1M30S", "maxConcurrentRequestsPerInstance": 16.0},
		"livenessProbe": map[string]any{"initialDelay": "PT10S", "period": "PT10S", "timeout": "PT2S",
			"failureThreshold": 30.0, "successThreshold": 1.0},
		"readinessProbe": map[string]any{"initialDelay": "PT5S", "period": "PT10S", "timeout": "PT2S",
			"failureThreshold": 3.0, "successThreshold": 1.0},
	}, props); diff != "" {
		t.Errorf("deployment properties (-want +got):\n%s", diff)
	}
	if _, ok := props["model"]; ok {
		t.Error("the model is in the image: no model asset is named")
	}
}

func pick(m map[string]any, keys ...string) map[string]any {
	out := map[string]any{}
	for _, k := range keys {
		if v, ok := m[k]; ok {
			out[k] = v
		}
	}
	return out
}

func TestDeployUpdatesEndpoint(t *testing.T) {
	pct := func(n int) *int { return &n }
	for _, tc := range []struct {
		name        string
		all         bool
		percent     *int
		wantTraffic map[string]any // nil: no traffic write
	}{
		{name: "all traffic", all: true, wantTraffic: map[string]any{"blue": 0.0, "green": 100.0}},
		{name: "percent", percent: pct(20), wantTraffic: map[string]any{"blue": 80.0, "green": 20.0}},
		{name: "default keeps traffic"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, c := newFake(t)
			f.Seed("iris-ep", map[string]int{"blue": 100})
			res, err := c.Deploy(t.Context(), Spec{Endpoint: "iris-ep", Deployment: "green", Image: testImage,
				AllTraffic: tc.all, TrafficPercent: tc.percent})
			if err != nil {
				t.Fatal(err)
			}
			want := seq(
				"GET onlineEndpoints/iris-ep",
				"GET environments/mlship-iris-ep/versions/V", "PUT environments/mlship-iris-ep/versions/V",
				"PUT onlineEndpoints/iris-ep/deployments/green", polls("mfeOperationsStatus", "op-1"), "GET onlineEndpoints/iris-ep/deployments/green",
				"GET onlineEndpoints/iris-ep",
			)
			if tc.wantTraffic != nil {
				want = seq(want, "PUT onlineEndpoints/iris-ep", polls("mfeOperationsStatus", "op-2"), "GET onlineEndpoints/iris-ep")
			}
			if diff := cmp.Diff(want, calls(f)); diff != "" {
				t.Errorf("call sequence (-want +got):\n%s", diff)
			}
			if res.CreatedEndpoint {
				t.Error("CreatedEndpoint on an existing endpoint")
			}
			if tc.wantTraffic == nil {
				if diff := cmp.Diff(map[string]int32{"blue": 100}, res.Traffic); diff != "" {
					t.Errorf("traffic (-want +got):\n%s", diff)
				}
				return
			}
			body := f.Body("PUT onlineEndpoints/iris-ep", 0)
			if diff := cmp.Diff(tc.wantTraffic, body["properties"].(map[string]any)["traffic"]); diff != "" {
				t.Errorf("traffic (-want +got):\n%s", diff)
			}
			// The PUT sends back what GET returned, minus read-only fields.
			if diff := cmp.Diff(map[string]any{"type": "SystemAssigned"}, body["identity"]); diff != "" {
				t.Errorf("identity (-want +got):\n%s", diff)
			}
			if body["properties"].(map[string]any)["authMode"] != "Key" {
				t.Errorf("auth mode changed: %v", body["properties"])
			}
		})
	}
}

func TestDeployFailedOperation(t *testing.T) {
	f, c := newFake(t)
	f.Seed("iris-ep", map[string]int{"blue": 100})
	f.FailDeployment("green", azuremltest.Detail{
		Code:    "ResourceNotReady",
		Message: "User container has crashed or terminated.",
		Details: []azuremltest.Detail{{Code: "ContainerCrashLoop", Message: "Liveness probe failed: GET /ping: connection refused"}},
	})
	_, err := c.Deploy(t.Context(), Spec{Endpoint: "iris-ep", Deployment: "green", Image: testImage, AllTraffic: true})
	if err == nil {
		t.Fatal("no error")
	}
	for _, s := range []string{"deployment green", "operation Failed", "ResourceNotReady", "User container has crashed or terminated.",
		"ContainerCrashLoop: Liveness probe failed"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q lacks %q", err, s)
		}
	}
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != "Failed" || ae.Code != "ResourceNotReady" {
		t.Errorf("error %#v", ae)
	}
	// No traffic is shifted to a failed deployment.
	want := seq(
		"GET onlineEndpoints/iris-ep",
		"GET environments/mlship-iris-ep/versions/V", "PUT environments/mlship-iris-ep/versions/V",
		"PUT onlineEndpoints/iris-ep/deployments/green", polls("mfeOperationsStatus", "op-1"),
	)
	if diff := cmp.Diff(want, calls(f)); diff != "" {
		t.Errorf("call sequence (-want +got):\n%s", diff)
	}
}

func TestDeployTimeout(t *testing.T) {
	f, c := newFake(t)
	f.NeverFinish = true
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	_, err := c.Deploy(ctx, Spec{Endpoint: "iris-ep", Image: testImage})
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "endpoint iris-ep: gave up waiting (last status InProgress)") {
		t.Fatalf("error %v", err)
	}
}

func TestDeployRefusesImpossibleTrafficFirst(t *testing.T) {
	// 30% for the only deployment of a new endpoint cannot be made: the
	// error comes before anything is created.
	f, c := newFake(t)
	pct := 30
	_, err := c.Deploy(t.Context(), Spec{Endpoint: "iris-ep", Image: testImage, TrafficPercent: &pct})
	if err == nil || !strings.Contains(err.Error(), "no other deployment takes traffic") {
		t.Fatalf("error %v", err)
	}
	if diff := cmp.Diff([]string{"GET onlineEndpoints/iris-ep"}, calls(f)); diff != "" {
		t.Errorf("call sequence (-want +got):\n%s", diff)
	}
}

func TestDeployARMErrors(t *testing.T) {
	// A request the service refuses surfaces with ARM's code and message.
	f, c := newFake(t)
	_, err := c.Deploy(t.Context(), Spec{Endpoint: "iris-ep", Image: testImage, InstanceType: "Standard_Bogus"})
	var ae *Error
	if !errors.As(err, &ae) || ae.StatusCode != 400 || ae.Code != "BadArgument" ||
		!strings.Contains(err.Error(), "PUT workspaces/my-aml-workspace/onlineEndpoints/iris-ep/deployments/blue: 400 Bad Request: BadArgument: Instance type Standard_Bogus is not supported") {
		t.Errorf("error %v", err)
	}

	// A missing workspace: the endpoint reads as missing, the workspace
	// too, and nothing is created.
	f, c = newFake(t)
	f.Workspace = "other-workspace" // the client asks for my-aml-workspace
	_, err = c.Deploy(t.Context(), Spec{Endpoint: "iris-ep", Image: testImage})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "workspace my-aml-workspace in resource group test-rg") {
		t.Errorf("error %v", err)
	}
	if n := len(f.Calls()); n != 2 {
		t.Errorf("calls %v", f.Calls())
	}
}

func TestDelete(t *testing.T) {
	t.Run("endpoint", func(t *testing.T) {
		f, c := newFake(t)
		f.Seed("iris-ep", map[string]int{"blue": 100})
		if err := c.Delete(t.Context(), "iris-ep", ""); err != nil {
			t.Fatal(err)
		}
		want := seq("GET onlineEndpoints/iris-ep", "DELETE onlineEndpoints/iris-ep", polls("mfeOperationResults", "op-1"))
		if diff := cmp.Diff(want, calls(f)); diff != "" {
			t.Errorf("call sequence (-want +got):\n%s", diff)
		}
		if f.HasEndpoint("iris-ep") {
			t.Error("endpoint still there")
		}
	})
	t.Run("deployment", func(t *testing.T) {
		f, c := newFake(t)
		f.Seed("iris-ep", map[string]int{"blue": 100, "green": 0})
		if err := c.Delete(t.Context(), "iris-ep", "green"); err != nil {
			t.Fatal(err)
		}
		want := seq("GET onlineEndpoints/iris-ep", "DELETE onlineEndpoints/iris-ep/deployments/green", polls("mfeOperationResults", "op-1"))
		if diff := cmp.Diff(want, calls(f)); diff != "" {
			t.Errorf("call sequence (-want +got):\n%s", diff)
		}
		if f.HasEndpoint("iris-ep", "green") {
			t.Error("deployment still there")
		}
	})
	t.Run("deployment with traffic", func(t *testing.T) {
		f, c := newFake(t)
		f.Seed("iris-ep", map[string]int{"blue": 100})
		err := c.Delete(t.Context(), "iris-ep", "blue")
		if err == nil || !strings.Contains(err.Error(), "deployment blue takes 100% of endpoint iris-ep's traffic (blue=100)") {
			t.Fatalf("error %v", err)
		}
		if diff := cmp.Diff([]string{"GET onlineEndpoints/iris-ep"}, calls(f)); diff != "" {
			t.Errorf("call sequence (-want +got):\n%s", diff)
		}
	})
	t.Run("missing", func(t *testing.T) {
		f, c := newFake(t)
		f.Seed("iris-ep", map[string]int{"blue": 100})
		if err := c.Delete(t.Context(), "nope-ep", ""); !errors.Is(err, ErrNotFound) {
			t.Errorf("missing endpoint: %v", err)
		}
		if err := c.Delete(t.Context(), "iris-ep", "green"); !errors.Is(err, ErrNotFound) {
			t.Errorf("missing deployment: %v", err)
		}
	})
}
