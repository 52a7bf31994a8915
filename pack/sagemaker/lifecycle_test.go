package sagemaker_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/google/go-cmp/cmp"

	"github.com/mlship/mlship/pack/sagemaker"
)

// TestDelete: the endpoint, its configuration, its models and their
// tarballs go, after the wait sees the endpoint leave ListEndpoints
// (moto deletes at once: the proxy shows it Deleting twice first).
func TestDelete(t *testing.T) {
	e := newEnv(t)
	e.createBucket("models")
	c := e.client(sagemaker.Options{})
	d := e.deployed(c)
	var mu sync.Mutex
	deleting := 2
	e.proxy.rewrite("sagemaker:ListEndpoints", func(doc map[string]any) {
		mu.Lock()
		defer mu.Unlock()
		if deleting > 0 {
			deleting--
			doc["Endpoints"] = append(doc["Endpoints"].([]any), map[string]any{
				"EndpointName": "my-app", "EndpointArn": "arn:aws:sagemaker:us-west-2:123456789012:endpoint/my-app",
				"EndpointStatus": "Deleting", "CreationTime": 1.7e9, "LastModifiedTime": 1.7e9,
			})
		}
	})
	if err := c.Delete(t.Context(), sagemaker.DeleteConfig{AppName: "my-app"}); err != nil {
		t.Fatal(err)
	}
	checkCalls(t, "delete", e.proxy.calls(), []string{
		"sagemaker:DescribeEndpoint", "sagemaker:DeleteEndpoint",
		"sagemaker:ListEndpoints", "sagemaker:ListEndpoints", "sagemaker:ListEndpoints",
		"sagemaker:DescribeEndpointConfig", "sagemaker:DeleteEndpointConfig",
		"sagemaker:DescribeModel", "s3:DeleteObject", "sagemaker:DeleteModel",
	})
	if e.modelExists(d.ModelName) || e.configExists(d.EndpointConfigName) || e.object(d.ModelDataURL) != nil {
		t.Error("resources left after delete")
	}
}

// TestDeleteArchive: --archive keeps the configuration, models and
// tarballs; --async (which needs it) does not wait.
func TestDeleteArchive(t *testing.T) {
	e := newEnv(t)
	e.createBucket("models")
	c := e.client(sagemaker.Options{})
	d := e.deployed(c)
	if err := c.Delete(t.Context(), sagemaker.DeleteConfig{AppName: "my-app", Async: true}); err == nil {
		t.Fatal("async delete without archive succeeded")
	}
	if err := c.Delete(t.Context(), sagemaker.DeleteConfig{AppName: "my-app", Archive: true, Async: true}); err != nil {
		t.Fatal(err)
	}
	checkCalls(t, "archived delete", e.proxy.calls(), []string{"sagemaker:DescribeEndpoint", "sagemaker:DeleteEndpoint"})
	if !e.modelExists(d.ModelName) || !e.configExists(d.EndpointConfigName) || e.object(d.ModelDataURL) == nil {
		t.Error("archived resources deleted")
	}
	err := c.Delete(t.Context(), sagemaker.DeleteConfig{AppName: "my-app"})
	if err == nil || !strings.Contains(err.Error(), "Could not find endpoint") {
		t.Errorf("deleting a missing endpoint: %v", err)
	}
}

func transformConfig(e *env) sagemaker.TransformConfig {
	return sagemaker.TransformConfig{
		JobName: "score-2024", Model: writeModel(e.t), ModelURI: "runs:/run123/model",
		InputDataType: "S3Prefix", InputURI: "s3://data/in/", ContentType: "text/csv", OutputPath: "s3://data/out/",
		ImageURL: testImage, ExecutionRoleARN: testRole, Bucket: "models",
	}
}

// TestTransformJob: MLflow's batch transform: the model, then a job whose
// input, output, resources and data processing carry MLflow's defaults,
// tagged with the model's name; once Completed the model and its tarball
// are deleted.
func TestTransformJob(t *testing.T) {
	e := newEnv(t)
	e.createBucket("models")
	var body map[string]any
	e.proxy.handle("sagemaker:CreateTransformJob", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &body); err != nil {
			t.Error(err)
		}
		r.Body = io.NopCloser(strings.NewReader(string(b)))
		e.proxy.rp.ServeHTTP(w, r)
	})
	c := e.client(sagemaker.Options{})
	j, err := c.DeployTransformJob(t.Context(), transformConfig(e))
	if err != nil {
		t.Fatal(err)
	}
	checkCalls(t, "transform", e.proxy.calls(), []string{
		"sagemaker:ListTransformJobs",
		"s3:PutObject", "s3:PutObjectTagging",
		"sagemaker:CreateModel", "sagemaker:CreateTransformJob",
		"sagemaker:DescribeTransformJob",
		"sagemaker:DescribeTransformJob", "sagemaker:DescribeModel", "s3:DeleteObject", "sagemaker:DeleteModel",
	})
	if !strings.HasPrefix(j.ModelName, "score-2024-model-") {
		t.Errorf("model name %s", j.ModelName)
	}
	want := map[string]any{
		"TransformJobName": "score-2024",
		"ModelName":        j.ModelName,
		"TransformInput": map[string]any{
			"DataSource":      map[string]any{"S3DataSource": map[string]any{"S3DataType": "S3Prefix", "S3Uri": "s3://data/in/"}},
			"ContentType":     "text/csv",
			"CompressionType": "None",
			"SplitType":       "Line",
		},
		"TransformOutput":    map[string]any{"S3OutputPath": "s3://data/out/", "Accept": "text/csv", "AssembleWith": "Line"},
		"TransformResources": map[string]any{"InstanceType": "ml.m4.xlarge", "InstanceCount": 1.0},
		"DataProcessing":     map[string]any{"InputFilter": "$", "OutputFilter": "$", "JoinSource": "None"},
		"Tags":               []any{map[string]any{"Key": "model_name", "Value": j.ModelName}},
	}
	if diff := cmp.Diff(want, body); diff != "" {
		t.Errorf("CreateTransformJob (-want +got):\n%s", diff)
	}
	job, err := e.sm.DescribeTransformJob(t.Context(), &sm.DescribeTransformJobInput{TransformJobName: aws.String("score-2024")})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"model_name": j.ModelName}, e.tags(aws.ToString(job.TransformJobArn))); diff != "" {
		t.Errorf("job tags (-want +got):\n%s", diff)
	}
	if e.modelExists(j.ModelName) || e.object(j.ModelDataURL) != nil {
		t.Error("the job's model is left after it completed")
	}

	_, err = c.DeployTransformJob(t.Context(), transformConfig(e))
	if !errors.Is(err, sagemaker.ErrExists) {
		t.Errorf("a second job of the same name: %v", err)
	}
}

// TestTransformJobFailed: a failed job is an OperationError with its
// reason, and its model is kept.
func TestTransformJobFailed(t *testing.T) {
	e := newEnv(t)
	e.createBucket("models")
	e.proxy.rewrite("sagemaker:DescribeTransformJob", func(doc map[string]any) {
		doc["TransformJobStatus"] = "Failed"
		doc["FailureReason"] = "ClientError: no input under s3://data/in/"
	})
	c := e.client(sagemaker.Options{})
	j, err := c.DeployTransformJob(t.Context(), transformConfig(e))
	var oe *sagemaker.OperationError
	if !errors.As(err, &oe) || oe.Message != "ClientError: no input under s3://data/in/" || oe.Operation != "batch transform job" {
		t.Fatalf("error %v", err)
	}
	if !e.modelExists(j.ModelName) {
		t.Error("the failed job's model was deleted")
	}
}

// TestTerminateTransformJob: StopTransformJob (moto lacks it: the proxy
// checks the request and reports the job Stopping, then Stopped), then
// the job's model is deleted.
func TestTerminateTransformJob(t *testing.T) {
	e := newEnv(t)
	e.createBucket("models")
	c := e.client(sagemaker.Options{})
	cfg := transformConfig(e)
	cfg.Archive = true
	j, err := c.DeployTransformJob(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.proxy.calls()
	var mu sync.Mutex
	stopped := false
	e.proxy.handle("sagemaker:StopTransformJob", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if got := r.Header.Get("X-Amz-Target"); got != "SageMaker.StopTransformJob" {
			t.Errorf("X-Amz-Target %q", got)
		}
		checkSignature(t, r, b, aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret}, "sagemaker")
		var req map[string]any
		_ = json.Unmarshal(b, &req)
		if diff := cmp.Diff(map[string]any{"TransformJobName": "score-2024"}, req); diff != "" {
			t.Errorf("StopTransformJob (-want +got):\n%s", diff)
		}
		mu.Lock()
		stopped = true
		mu.Unlock()
		writeJSON(w, map[string]any{})
	})
	polls := 0
	e.proxy.rewrite("sagemaker:ListTransformJobs", func(doc map[string]any) {
		mu.Lock()
		defer mu.Unlock()
		if !stopped {
			t.Error("ListTransformJobs before StopTransformJob")
		}
		status := map[bool]string{false: "Stopping", true: "Stopped"}[polls > 0]
		polls++
		for _, s := range doc["TransformJobSummaries"].([]any) {
			s.(map[string]any)["TransformJobStatus"] = status
		}
	})
	if err := c.TerminateTransformJob(t.Context(), sagemaker.TerminateConfig{JobName: "score-2024"}); err != nil {
		t.Fatal(err)
	}
	checkCalls(t, "terminate", e.proxy.calls(), []string{
		"sagemaker:DescribeTransformJob", "sagemaker:StopTransformJob",
		"sagemaker:ListTransformJobs", "sagemaker:ListTransformJobs",
		"sagemaker:DescribeModel", "s3:DeleteObject", "sagemaker:DeleteModel",
	})
	if e.modelExists(j.ModelName) || e.object(j.ModelDataURL) != nil {
		t.Error("the job's model is left after termination")
	}
}

// TestTerminateCompletedJob: a job that completed before it could be
// stopped is reported, not waited on until the timeout.
func TestTerminateCompletedJob(t *testing.T) {
	e := newEnv(t)
	e.createBucket("models")
	c := e.client(sagemaker.Options{})
	cfg := transformConfig(e)
	cfg.Archive = true
	if _, err := c.DeployTransformJob(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	e.proxy.handle("sagemaker:StopTransformJob", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, map[string]any{}) })
	err := c.TerminateTransformJob(t.Context(), sagemaker.TerminateConfig{JobName: "score-2024"})
	var oe *sagemaker.OperationError
	if !errors.As(err, &oe) || !strings.Contains(oe.Message, "ended with status Completed") {
		t.Errorf("error %v", err)
	}
}

// TestPushModel: MLflow's push-model: DescribeModel finds no model of that
// name, the tarball goes up and CreateModel uses the name as given; a
// second push of the name fails before uploading.
func TestPushModel(t *testing.T) {
	e := newEnv(t)
	e.createBucket("models")
	c := e.client(sagemaker.Options{})
	cfg := sagemaker.PushModelConfig{
		ModelName: "iris", Model: writeModel(t), ImageURL: testImage, ExecutionRoleARN: testRole, Bucket: "models",
		VpcConfig: &types.VpcConfig{SecurityGroupIds: []string{"sg-1"}, Subnets: []string{"subnet-1"}},
	}
	arn, err := c.PushModel(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkCalls(t, "push-model", e.proxy.calls(), []string{
		"sagemaker:DescribeModel", "s3:PutObject", "s3:PutObjectTagging", "sagemaker:CreateModel",
	})
	if !strings.HasSuffix(arn, ":model/iris") || e.object("s3://models/iris/model.tar.gz") == nil {
		t.Errorf("model %s, or its tarball, missing", arn)
	}
	if _, err := c.PushModel(t.Context(), cfg); !errors.Is(err, sagemaker.ErrExists) {
		t.Errorf("second push: %v", err)
	}
	checkCalls(t, "second push-model", e.proxy.calls(), []string{"sagemaker:DescribeModel"})
}
