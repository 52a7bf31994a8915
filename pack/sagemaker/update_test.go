package sagemaker_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/google/go-cmp/cmp"

	"github.com/mlship/mlship/pack/sagemaker"
)

// updateEndpoint plays SageMaker's UpdateEndpoint, which moto lacks. It
// checks the request is exactly the one SageMaker's API takes — the JSON
// 1.1 protocol's target and content type, a valid SigV4 signature for the
// sagemaker service, and a body of only EndpointName and
// EndpointConfigName naming an existing configuration — and records it.
// With apply set it then makes the change in moto (delete the endpoint,
// create it again on the new configuration with its tags), so the rest of
// the flow reads real state. Otherwise DescribeEndpoint answers from
// script once the update arrived.
type updateEndpoint struct {
	e      *env
	apply  bool
	script []endpointState

	mu        sync.Mutex
	requests  []map[string]any
	updatedAt time.Time
	describes []time.Time // DescribeEndpoint calls after the update
}

// endpointState is one scripted DescribeEndpoint answer; Config "new"
// stands for the configuration the update named.
type endpointState struct {
	Status, Config, Reason string
}

func (e *env) playUpdates(apply bool, script ...endpointState) *updateEndpoint {
	u := &updateEndpoint{e: e, apply: apply, script: script}
	e.proxy.handle("sagemaker:UpdateEndpoint", u.update)
	if !apply {
		e.proxy.handle("sagemaker:DescribeEndpoint", u.describe)
	}
	return u
}

func (u *updateEndpoint) update(w http.ResponseWriter, r *http.Request) {
	t := u.e.t
	body, _ := io.ReadAll(r.Body)
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		t.Errorf("UpdateEndpoint: %s %s", r.Method, r.URL.Path)
	}
	if got := r.Header.Get("X-Amz-Target"); got != "SageMaker.UpdateEndpoint" {
		t.Errorf("X-Amz-Target %q", got)
	}
	if got := r.Header.Get("Content-Type"); got != "application/x-amz-json-1.1" {
		t.Errorf("Content-Type %q", got)
	}
	checkSignature(t, r, body, aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret}, "sagemaker")
	var req map[string]any
	if err := json.Unmarshal(body, &req); err != nil {
		t.Errorf("UpdateEndpoint body %q: %v", body, err)
	}
	name, _ := req["EndpointName"].(string)
	config, _ := req["EndpointConfigName"].(string)
	if len(req) != 2 || name == "" || config == "" {
		t.Errorf("UpdateEndpoint body %s: want only EndpointName and EndpointConfigName", body)
	}
	if !u.e.configExists(config) {
		t.Errorf("UpdateEndpoint to configuration %s, which does not exist", config)
	}
	u.mu.Lock()
	u.requests = append(u.requests, req)
	u.updatedAt = time.Now()
	u.mu.Unlock()
	ctx := r.Context()
	ep, err := u.e.sm.DescribeEndpoint(ctx, &sm.DescribeEndpointInput{EndpointName: aws.String(name)})
	if err != nil {
		writeError(w, "ValidationException", "Could not find endpoint "+name)
		return
	}
	if u.apply {
		tags, err := u.e.sm.ListTags(ctx, &sm.ListTagsInput{ResourceArn: ep.EndpointArn})
		if err == nil {
			_, err = u.e.sm.DeleteEndpoint(ctx, &sm.DeleteEndpointInput{EndpointName: aws.String(name)})
		}
		if err == nil {
			_, err = u.e.sm.CreateEndpoint(ctx, &sm.CreateEndpointInput{
				EndpointName: aws.String(name), EndpointConfigName: aws.String(config), Tags: tags.Tags,
			})
		}
		if err != nil {
			t.Errorf("applying the update in moto: %v", err)
		}
	}
	writeJSON(w, map[string]string{"EndpointArn": aws.ToString(ep.EndpointArn)})
}

func writeError(w http.ResponseWriter, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": msg})
}

// describe answers DescribeEndpoint from moto until the update, then from
// the script (its last state repeats).
func (u *updateEndpoint) describe(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	if u.updatedAt.IsZero() {
		u.mu.Unlock()
		u.e.proxy.rp.ServeHTTP(w, r)
		return
	}
	i := min(len(u.describes), len(u.script)-1)
	u.describes = append(u.describes, time.Now())
	st := u.script[i]
	newConfig, _ := u.requests[len(u.requests)-1]["EndpointConfigName"].(string)
	name, _ := u.requests[len(u.requests)-1]["EndpointName"].(string)
	u.mu.Unlock()
	config := st.Config
	if config == "new" {
		config = newConfig
	}
	resp := map[string]any{
		"EndpointName":       name,
		"EndpointArn":        "arn:aws:sagemaker:us-west-2:123456789012:endpoint/" + name,
		"EndpointConfigName": config,
		"EndpointStatus":     st.Status,
		"CreationTime":       1.7e9,
		"LastModifiedTime":   1.7e9,
	}
	if st.Reason != "" {
		resp["FailureReason"] = st.Reason
	}
	writeJSON(w, resp)
}

// deployed creates my-app in moto and forgets the calls.
func (e *env) deployed(c *sagemaker.Client) *sagemaker.Deployment {
	e.t.Helper()
	d, err := c.Deploy(e.t.Context(), sagemaker.DeployConfig{
		AppName: "my-app", Model: writeModel(e.t), ImageURL: testImage, ExecutionRoleARN: testRole, Bucket: "models",
		Tags: map[string]string{"team": "ml"},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.proxy.calls()
	return d
}

// TestDeployReplace: replace mode updates the endpoint to a configuration
// holding only the new model at weight 1, then deletes the old model, its
// tarball and the old configuration.
func TestDeployReplace(t *testing.T) {
	e := newEnv(t)
	e.createBucket("models")
	c := e.client(sagemaker.Options{})
	old := e.deployed(c)
	u := e.playUpdates(true)

	m := writeModel(t)
	writeFile(t, m.Dir, "model.pkl", []byte("retrained"))
	d, err := c.Deploy(t.Context(), sagemaker.DeployConfig{
		AppName: "my-app", Model: m, Mode: sagemaker.ModeReplace, ImageURL: testImage,
		ExecutionRoleARN: testRole, Bucket: "models", VariantName: "v2", InstanceType: "ml.c5.large", InstanceCount: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkCalls(t, "replace", e.proxy.calls(), []string{
		"sagemaker:ListEndpoints",
		"s3:PutObject", "s3:PutObjectTagging",
		"sagemaker:DescribeEndpoint", "sagemaker:DescribeEndpointConfig",
		"sagemaker:CreateModel", "sagemaker:CreateEndpointConfig", "sagemaker:UpdateEndpoint",
		"sagemaker:DescribeEndpoint",
		"sagemaker:DescribeModel", "s3:DeleteObject", "sagemaker:DeleteModel",
		"sagemaker:DeleteEndpointConfig",
	})
	if !d.Updated {
		t.Error("Updated is false")
	}
	if diff := cmp.Diff([]map[string]any{{"EndpointName": "my-app", "EndpointConfigName": d.EndpointConfigName}}, u.requests); diff != "" {
		t.Errorf("UpdateEndpoint requests (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]variantView{{Name: "v2", Model: d.ModelName, InstanceType: "ml.c5.large", Count: 2, Weight: 1}},
		e.variants(d.EndpointConfigName)); diff != "" {
		t.Errorf("variants (-want +got):\n%s", diff)
	}
	if e.modelExists(old.ModelName) || e.object(old.ModelDataURL) != nil || e.configExists(old.EndpointConfigName) {
		t.Errorf("old resources left: model %v, tarball %v, config %v",
			e.modelExists(old.ModelName), e.object(old.ModelDataURL) != nil, e.configExists(old.EndpointConfigName))
	}
	if !e.modelExists(d.ModelName) || readTarball(t, e.object(d.ModelDataURL))["model.pkl"].Data != "retrained" {
		t.Error("the new model or its tarball is missing")
	}
	ep, err := e.sm.DescribeEndpoint(t.Context(), &sm.DescribeEndpointInput{EndpointName: aws.String("my-app")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(ep.EndpointConfigName) != d.EndpointConfigName {
		t.Errorf("endpoint on %s", aws.ToString(ep.EndpointConfigName))
	}
}

// TestDeployAdd: add mode keeps the old variants as they were and adds the
// new model at weight 0; only the old configuration is deleted.
func TestDeployAdd(t *testing.T) {
	e := newEnv(t)
	e.createBucket("models")
	c := e.client(sagemaker.Options{})
	old := e.deployed(c)
	e.playUpdates(true)

	d, err := c.Deploy(t.Context(), sagemaker.DeployConfig{
		AppName: "my-app", Model: writeModel(t), Mode: sagemaker.ModeAdd, ImageURL: testImage,
		ExecutionRoleARN: testRole, Bucket: "models",
	})
	if err != nil {
		t.Fatal(err)
	}
	checkCalls(t, "add", e.proxy.calls(), []string{
		"sagemaker:ListEndpoints",
		"s3:PutObject", "s3:PutObjectTagging",
		"sagemaker:DescribeEndpoint", "sagemaker:DescribeEndpointConfig",
		"sagemaker:CreateModel", "sagemaker:CreateEndpointConfig", "sagemaker:UpdateEndpoint",
		"sagemaker:DescribeEndpoint",
		"sagemaker:DeleteEndpointConfig",
	})
	want := []variantView{
		{Name: old.ModelName, Model: old.ModelName, InstanceType: "ml.m4.xlarge", Count: 1, Weight: 1},
		{Name: d.ModelName, Model: d.ModelName, InstanceType: "ml.m4.xlarge", Count: 1, Weight: 0},
	}
	if diff := cmp.Diff(want, e.variants(d.EndpointConfigName)); diff != "" {
		t.Errorf("variants (-want +got):\n%s", diff)
	}
	if !e.modelExists(old.ModelName) || e.object(old.ModelDataURL) == nil {
		t.Error("add mode deleted the old model")
	}
	if e.configExists(old.EndpointConfigName) {
		t.Error("the old configuration is left")
	}
	if diff := cmp.Diff(map[string]string{"app_name": "my-app"}, e.tags(configARN(e, d.EndpointConfigName))); diff != "" {
		t.Errorf("new config tags (-want +got):\n%s", diff)
	}
}

func configARN(e *env, name string) string {
	out, err := e.sm.DescribeEndpointConfig(e.t.Context(), &sm.DescribeEndpointConfigInput{EndpointConfigName: aws.String(name)})
	if err != nil {
		e.t.Fatal(err)
	}
	return aws.ToString(out.EndpointConfigArn)
}

// TestDeployUpdateOutcomes: how the wait after UpdateEndpoint reads
// SageMaker's answers. A failed or rolled-back update (in service, but on
// another configuration) and a timeout are *OperationErrors and clean
// nothing up.
func TestDeployUpdateOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		script  []endpointState
		timeout time.Duration
		// want is the OperationError's message ("" for success).
		want     string
		timedOut bool
	}{
		{
			name:   "in service after updating",
			script: []endpointState{{Status: "Updating", Config: "old"}, {Status: "Updating", Config: "new"}, {Status: "InService", Config: "new"}},
		},
		{
			name:   "rolled back",
			script: []endpointState{{Status: "Updating", Config: "old"}, {Status: "RollingBack", Config: "old"}, {Status: "InService", Config: "old", Reason: "Variant v2 failed its health check"}},
			want:   "Variant v2 failed its health check",
		},
		{
			name:   "rolled back without a reason",
			script: []endpointState{{Status: "InService", Config: "old"}},
			want:   "An unknown SageMaker failure occurred. Please see the SageMaker console logs for more information.",
		},
		{
			name:   "failed",
			script: []endpointState{{Status: "Updating", Config: "new"}, {Status: "Failed", Config: "new", Reason: "image not found"}},
			want:   "image not found",
		},
		{
			name:     "timed out",
			script:   []endpointState{{Status: "Updating", Config: "new"}},
			timeout:  150 * time.Millisecond,
			want:     "Timed out after waiting 0 seconds for the operation to complete. This operation may still be in progress. Please check the AWS console for more information.",
			timedOut: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.createBucket("models")
			c := e.client(sagemaker.Options{})
			old := e.deployed(c)
			u := e.playUpdates(false, tc.script...)
			d, err := c.Deploy(t.Context(), sagemaker.DeployConfig{
				AppName: "my-app", Model: writeModel(t), Mode: sagemaker.ModeReplace, ImageURL: testImage,
				ExecutionRoleARN: testRole, Bucket: "models", Timeout: tc.timeout,
			})
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(u.describes) != len(tc.script) {
					t.Errorf("%d DescribeEndpoint calls after the update, want %d", len(u.describes), len(tc.script))
				}
				if e.modelExists(old.ModelName) || e.configExists(old.EndpointConfigName) {
					t.Error("the replaced model or configuration is left")
				}
				return
			}
			var oe *sagemaker.OperationError
			if !errors.As(err, &oe) {
				t.Fatalf("error %v, want an OperationError", err)
			}
			if oe.Message != tc.want || oe.TimedOut != tc.timedOut || oe.Operation != "deployment" {
				t.Errorf("OperationError %+v, want message %q, timed out %v", oe, tc.want, tc.timedOut)
			}
			if !strings.HasPrefix(err.Error(), "The deployment operation failed with the following error message: ") {
				t.Errorf("message %q", err)
			}
			if d == nil || !e.modelExists(d.ModelName) || !e.configExists(d.EndpointConfigName) {
				t.Error("the new model and configuration should be left for inspection")
			}
			if !e.modelExists(old.ModelName) || !e.configExists(old.EndpointConfigName) || e.object(old.ModelDataURL) == nil {
				t.Error("a failed update cleaned up the model the endpoint still serves")
			}
			for _, op := range e.proxy.calls() {
				if strings.HasPrefix(op, "sagemaker:Delete") || op == "s3:DeleteObject" {
					t.Errorf("%s after a failed update", op)
				}
			}
		})
	}
}

// TestDeployUpdateGrace: for the first UpdateGrace after UpdateEndpoint
// the endpoint's status is not read at all, so SageMaker's brief
// InService-on-the-old-configuration is not taken for a rollback.
func TestDeployUpdateGrace(t *testing.T) {
	e := newEnv(t)
	e.createBucket("models")
	c := e.client(sagemaker.Options{UpdateGrace: 300 * time.Millisecond})
	e.deployed(c)
	u := e.playUpdates(false, endpointState{Status: "InService", Config: "new"})
	_, err := c.Deploy(t.Context(), sagemaker.DeployConfig{
		AppName: "my-app", Model: writeModel(t), Mode: sagemaker.ModeAdd, ImageURL: testImage,
		ExecutionRoleARN: testRole, Bucket: "models",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(u.describes) != 1 {
		t.Fatalf("%d DescribeEndpoint calls after the update, want 1", len(u.describes))
	}
	if wait := u.describes[0].Sub(u.updatedAt); wait < 300*time.Millisecond {
		t.Errorf("status read %v after UpdateEndpoint, within the grace", wait)
	}
}

// TestDeployAsyncUpdate: an asynchronous update returns after
// UpdateEndpoint, reads no status and deletes nothing.
func TestDeployAsyncUpdate(t *testing.T) {
	e := newEnv(t)
	e.createBucket("models")
	c := e.client(sagemaker.Options{})
	e.deployed(c)
	e.playUpdates(false, endpointState{Status: "Updating", Config: "new"})
	_, err := c.Deploy(t.Context(), sagemaker.DeployConfig{
		AppName: "my-app", Model: writeModel(t), Mode: sagemaker.ModeReplace, ImageURL: testImage,
		ExecutionRoleARN: testRole, Bucket: "models", Async: true, Archive: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	calls := e.proxy.calls()
	if last := calls[len(calls)-1]; last != "sagemaker:UpdateEndpoint" {
		t.Errorf("calls end with %s: %v", last, calls)
	}
}
