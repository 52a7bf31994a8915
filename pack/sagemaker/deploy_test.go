package sagemaker_test

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/google/go-cmp/cmp"

	"github.com/mlship/mlship/internal/testenv"
	"github.com/mlship/mlship/mlmodel"
	"github.com/mlship/mlship/pack/sagemaker"
)

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// ecrClient is a direct moto client for ECR.
func (e *env) ecr() *ecr.Client {
	cfg, err := config.LoadDefaultConfig(e.t.Context(), config.WithRegion(testRegion),
		config.WithCredentialsProvider(testCreds), config.WithBaseEndpoint(e.moto))
	if err != nil {
		e.t.Fatal(err)
	}
	return ecr.NewFromConfig(cfg)
}

func (e *env) createRole(name string) string {
	e.t.Helper()
	out, err := e.iam.CreateRole(e.t.Context(), &iam.CreateRoleInput{
		RoleName:                 aws.String(name),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[]}`),
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return aws.ToString(out.Role.Arn)
}

func (e *env) createBucket(name string) {
	e.t.Helper()
	_, err := e.s3.CreateBucket(e.t.Context(), &s3.CreateBucketInput{
		Bucket: aws.String(name),
		CreateBucketConfiguration: &s3types.CreateBucketConfiguration{
			LocationConstraint: s3types.BucketLocationConstraint(testRegion),
		},
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// object returns an S3 object's bytes, or nil when it does not exist.
func (e *env) object(s3URL string) []byte {
	e.t.Helper()
	bucket, key, _ := strings.Cut(strings.TrimPrefix(s3URL, "s3://"), "/")
	out, err := e.s3.GetObject(e.t.Context(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	var nf *s3types.NoSuchKey
	if errors.As(err, &nf) {
		return nil
	}
	if err != nil {
		e.t.Fatal(err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

func (e *env) tags(arn string) map[string]string {
	e.t.Helper()
	out, err := e.sm.ListTags(e.t.Context(), &sm.ListTagsInput{ResourceArn: aws.String(arn)})
	if err != nil {
		e.t.Fatal(err)
	}
	m := map[string]string{}
	for _, tg := range out.Tags {
		m[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	return m
}

func (e *env) modelExists(name string) bool {
	e.t.Helper()
	_, err := e.sm.DescribeModel(e.t.Context(), &sm.DescribeModelInput{ModelName: aws.String(name)})
	if err != nil && !strings.Contains(err.Error(), "Could not find model") {
		e.t.Fatal(err)
	}
	return err == nil
}

func (e *env) configExists(name string) bool {
	e.t.Helper()
	_, err := e.sm.DescribeEndpointConfig(e.t.Context(), &sm.DescribeEndpointConfigInput{EndpointConfigName: aws.String(name)})
	if err != nil && !strings.Contains(err.Error(), "Could not find endpoint") {
		e.t.Fatal(err)
	}
	return err == nil
}

// variantView is what the tests compare of a production variant.
type variantView struct {
	Name, Model, InstanceType string
	Count                     int32
	Weight                    float32
}

func (e *env) variants(config string) []variantView {
	e.t.Helper()
	out, err := e.sm.DescribeEndpointConfig(e.t.Context(), &sm.DescribeEndpointConfigInput{EndpointConfigName: aws.String(config)})
	if err != nil {
		e.t.Fatal(err)
	}
	var vs []variantView
	for _, v := range out.ProductionVariants {
		vs = append(vs, variantView{
			Name: aws.ToString(v.VariantName), Model: aws.ToString(v.ModelName), InstanceType: string(v.InstanceType),
			Count: aws.ToInt32(v.InitialInstanceCount), Weight: aws.ToFloat32(v.InitialVariantWeight),
		})
	}
	return vs
}

func checkCalls(t *testing.T, what string, got, want []string) {
	t.Helper()
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("%s: AWS calls (-want +got):\n%s", what, d)
	}
}

var modelNameRE = regexp.MustCompile(`^my-app-model-[0-9a-f]{20}$`)

// TestDeployCreate: a first deployment with every resource left to its
// default makes MLflow's calls in MLflow's order, and leaves the endpoint,
// configuration, model, bucket and tarball MLflow would.
func TestDeployCreate(t *testing.T) {
	e := newEnv(t)
	callerRole := e.createRole("moto") // moto's caller is arn:aws:sts::123456789012:user/moto
	repo, err := e.ecr().CreateRepository(t.Context(), &ecr.CreateRepositoryInput{RepositoryName: aws.String("mlship")})
	if err != nil {
		t.Fatal(err)
	}
	m := writeModel(t)
	c := e.client(sagemaker.Options{})

	d, err := c.Deploy(t.Context(), sagemaker.DeployConfig{
		AppName:  "my-app",
		Model:    m,
		ModelURI: "runs:/run123/model",
		Env:      map[string]string{"MLSHIP_LOG_LEVEL": "debug"},
		Tags:     map[string]string{"team": "ml"},
	})
	if err != nil {
		t.Fatal(err)
	}
	checkCalls(t, "create", e.proxy.calls(), []string{
		"sagemaker:ListEndpoints",
		"ecr:DescribeRepositories",
		"sts:GetCallerIdentity", "iam:GetRole",
		"sts:GetCallerIdentity", "s3:ListBuckets", "s3:CreateBucket",
		"s3:PutObject", "s3:PutObjectTagging",
		"sagemaker:CreateModel", "sagemaker:CreateEndpointConfig", "sagemaker:CreateEndpoint",
		"sagemaker:ListEndpoints",
	})
	bucket := "mlflow-sagemaker-us-west-2-" + testAccount
	if !modelNameRE.MatchString(d.ModelName) {
		t.Errorf("model name %q", d.ModelName)
	}
	wantD := &sagemaker.Deployment{
		AppName: "my-app", Flavor: "python_function", ModelName: d.ModelName,
		EndpointConfigName: d.EndpointConfigName, VariantName: d.ModelName,
		ModelDataURL:     "s3://" + bucket + "/" + d.ModelName + "/model.tar.gz",
		ImageURL:         aws.ToString(repo.Repository.RepositoryUri) + ":1.0.0",
		ExecutionRoleARN: callerRole,
		Bucket:           bucket,
	}
	if diff := cmp.Diff(wantD, d); diff != "" {
		t.Errorf("deployment (-want +got):\n%s", diff)
	}
	if !regexp.MustCompile(`^my-app-config-[0-9a-f]{20}$`).MatchString(d.EndpointConfigName) {
		t.Errorf("config name %q", d.EndpointConfigName)
	}

	ep, err := e.sm.DescribeEndpoint(t.Context(), &sm.DescribeEndpointInput{EndpointName: aws.String("my-app")})
	if err != nil {
		t.Fatal(err)
	}
	if ep.EndpointStatus != types.EndpointStatusInService || aws.ToString(ep.EndpointConfigName) != d.EndpointConfigName {
		t.Errorf("endpoint: %s with %s", ep.EndpointStatus, aws.ToString(ep.EndpointConfigName))
	}
	if diff := cmp.Diff(map[string]string{"app_name": "my-app", "team": "ml"}, e.tags(aws.ToString(ep.EndpointArn))); diff != "" {
		t.Errorf("endpoint tags (-want +got):\n%s", diff)
	}
	conf, err := e.sm.DescribeEndpointConfig(t.Context(), &sm.DescribeEndpointConfigInput{EndpointConfigName: ep.EndpointConfigName})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"app_name": "my-app"}, e.tags(aws.ToString(conf.EndpointConfigArn))); diff != "" {
		t.Errorf("config tags (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]variantView{{Name: d.ModelName, Model: d.ModelName, InstanceType: "ml.m4.xlarge", Count: 1, Weight: 1}},
		e.variants(d.EndpointConfigName)); diff != "" {
		t.Errorf("variants (-want +got):\n%s", diff)
	}
	model, err := e.sm.DescribeModel(t.Context(), &sm.DescribeModelInput{ModelName: aws.String(d.ModelName)})
	if err != nil {
		t.Fatal(err)
	}
	pc := model.PrimaryContainer
	if aws.ToString(pc.Image) != wantD.ImageURL || aws.ToString(pc.ModelDataUrl) != wantD.ModelDataURL ||
		aws.ToString(model.ExecutionRoleArn) != callerRole {
		t.Errorf("model: image %s, data %s, role %s", aws.ToString(pc.Image), aws.ToString(pc.ModelDataUrl), aws.ToString(model.ExecutionRoleArn))
	}
	wantEnv := map[string]string{
		"MLFLOW_DEPLOYMENT_FLAVOR_NAME": "python_function", "SERVING_ENVIRONMENT": "SageMaker", "MLSHIP_LOG_LEVEL": "debug",
	}
	if diff := cmp.Diff(wantEnv, pc.Environment); diff != "" {
		t.Errorf("model environment (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"model_uri": "runs:/run123/model", "team": "ml"}, e.tags(aws.ToString(model.ModelArn))); diff != "" {
		t.Errorf("model tags (-want +got):\n%s", diff)
	}

	loc, err := e.s3.GetBucketLocation(t.Context(), &s3.GetBucketLocationInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if loc.LocationConstraint != s3types.BucketLocationConstraint(testRegion) {
		t.Errorf("bucket location %q", loc.LocationConstraint)
	}
	key := d.ModelName + "/model.tar.gz"
	tagging, err := e.s3.GetObjectTagging(t.Context(), &s3.GetObjectTaggingInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	if len(tagging.TagSet) != 1 || aws.ToString(tagging.TagSet[0].Key) != "SageMaker" || aws.ToString(tagging.TagSet[0].Value) != "true" {
		t.Errorf("object tags %+v", tagging.TagSet)
	}
	if diff := cmp.Diff(dirEntries(t, m.Dir), readTarball(t, e.object(d.ModelDataURL))); diff != "" {
		t.Errorf("model.tar.gz (-model dir +tarball):\n%s", diff)
	}
}

// TestDeployCreateExisting: create mode on an existing endpoint fails
// after ListEndpoints, before anything is uploaded or created; a second
// deployment reuses the default bucket instead of creating it.
func TestDeployCreateExisting(t *testing.T) {
	e := newEnv(t)
	e.createRole("moto")
	m := writeModel(t)
	c := e.client(sagemaker.Options{})
	first, err := c.Deploy(t.Context(), sagemaker.DeployConfig{AppName: "my-app", Model: m, ImageURL: testImage})
	if err != nil {
		t.Fatal(err)
	}
	e.proxy.calls()
	_, err = c.Deploy(t.Context(), sagemaker.DeployConfig{AppName: "my-app", Model: m, ImageURL: testImage})
	if !errors.Is(err, sagemaker.ErrExists) {
		t.Fatalf("create on an existing endpoint: %v", err)
	}
	checkCalls(t, "create on existing", e.proxy.calls(), []string{"sagemaker:ListEndpoints"})

	// A different app whose name contains the first one's: ListEndpoints
	// (NameContains) returns my-app too, which must not count.
	d, err := c.Deploy(t.Context(), sagemaker.DeployConfig{AppName: "my-app-2", Model: m, ImageURL: testImage})
	if err != nil {
		t.Fatal(err)
	}
	checkCalls(t, "second app", e.proxy.calls(), []string{
		"sagemaker:ListEndpoints",
		"sts:GetCallerIdentity", "iam:GetRole",
		"sts:GetCallerIdentity", "s3:ListBuckets", // the default bucket exists now
		"s3:PutObject", "s3:PutObjectTagging",
		"sagemaker:CreateModel", "sagemaker:CreateEndpointConfig", "sagemaker:CreateEndpoint",
		"sagemaker:ListEndpoints",
	})
	if d.Bucket != first.Bucket {
		t.Errorf("bucket %s, then %s", first.Bucket, d.Bucket)
	}
}

// TestDeployRequestBodies: CreateModel, CreateEndpointConfig and
// CreateEndpoint carry exactly the fields MLflow sends, with VPC, data
// capture and serverless configurations passed through.
func TestDeployRequestBodies(t *testing.T) {
	e := newEnv(t)
	e.createBucket("models")
	bodies := map[string]map[string]any{}
	for _, op := range []string{"CreateModel", "CreateEndpointConfig", "CreateEndpoint"} {
		e.proxy.handle("sagemaker:"+op, func(w http.ResponseWriter, r *http.Request) {
			var body map[string]any
			b, _ := io.ReadAll(r.Body)
			if err := json.Unmarshal(b, &body); err != nil {
				t.Errorf("%s body: %v", op, err)
			}
			bodies[op] = body
			writeJSON(w, map[string]string{
				"ModelArn":          "arn:aws:sagemaker:us-west-2:123456789012:model/x",
				"EndpointConfigArn": "arn:aws:sagemaker:us-west-2:123456789012:endpoint-config/x",
				"EndpointArn":       "arn:aws:sagemaker:us-west-2:123456789012:endpoint/x",
			})
		})
	}
	c := e.client(sagemaker.Options{})
	d, err := c.Deploy(t.Context(), sagemaker.DeployConfig{
		AppName: "my-app", Model: writeModel(t), ModelURI: "models:/m/1", ImageURL: testImage,
		ExecutionRoleARN: testRole, Bucket: "models", Async: true, Archive: true,
		VariantName: "blue",
		VpcConfig:   &types.VpcConfig{SecurityGroupIds: []string{"sg-1"}, Subnets: []string{"subnet-1"}},
		DataCaptureConfig: &types.DataCaptureConfig{
			InitialSamplingPercentage: aws.Int32(100), DestinationS3Uri: aws.String("s3://models/capture"),
			CaptureOptions: []types.CaptureOption{{CaptureMode: types.CaptureModeOutput}},
		},
		ServerlessConfig: &types.ProductionVariantServerlessConfig{MemorySizeInMB: aws.Int32(2048), MaxConcurrency: aws.Int32(20)},
		Tags:             map[string]string{"team": "ml"},
	})
	if err != nil {
		t.Fatal(err)
	}
	checkCalls(t, "async create", e.proxy.calls(), []string{
		"sagemaker:ListEndpoints", "s3:PutObject", "s3:PutObjectTagging",
		"sagemaker:CreateModel", "sagemaker:CreateEndpointConfig", "sagemaker:CreateEndpoint",
	})
	want := map[string]map[string]any{
		"CreateModel": {
			"ModelName": d.ModelName,
			"PrimaryContainer": map[string]any{
				"Image":        testImage,
				"ModelDataUrl": "s3://models/" + d.ModelName + "/model.tar.gz",
				"Environment":  map[string]any{"MLFLOW_DEPLOYMENT_FLAVOR_NAME": "python_function", "SERVING_ENVIRONMENT": "SageMaker"},
			},
			"ExecutionRoleArn": testRole,
			"Tags":             []any{map[string]any{"Key": "model_uri", "Value": "models:/m/1"}, map[string]any{"Key": "team", "Value": "ml"}},
			"VpcConfig":        map[string]any{"SecurityGroupIds": []any{"sg-1"}, "Subnets": []any{"subnet-1"}},
		},
		"CreateEndpointConfig": {
			"EndpointConfigName": d.EndpointConfigName,
			"ProductionVariants": []any{map[string]any{
				"VariantName": "blue", "ModelName": d.ModelName, "InitialVariantWeight": 1.0,
				"ServerlessConfig": map[string]any{"MemorySizeInMB": 2048.0, "MaxConcurrency": 20.0},
			}},
			"Tags": []any{map[string]any{"Key": "app_name", "Value": "my-app"}},
			"DataCaptureConfig": map[string]any{
				"InitialSamplingPercentage": 100.0, "DestinationS3Uri": "s3://models/capture",
				"CaptureOptions": []any{map[string]any{"CaptureMode": "Output"}},
			},
		},
		"CreateEndpoint": {
			"EndpointName": "my-app", "EndpointConfigName": d.EndpointConfigName,
			"Tags": []any{map[string]any{"Key": "app_name", "Value": "my-app"}, map[string]any{"Key": "team", "Value": "ml"}},
		},
	}
	if diff := cmp.Diff(want, bodies); diff != "" {
		t.Errorf("request bodies (-want +got):\n%s", diff)
	}
}

// TestDeployValidation: MLflow's refusals happen before any AWS call.
func TestDeployValidation(t *testing.T) {
	e := newEnv(t)
	m := writeModel(t)
	onnxOnly, err := mlmodel.Parse([]byte("flavors:\n  onnx:\n    data: model.onnx\n"), "MLmodel")
	if err != nil {
		t.Fatal(err)
	}
	onnxOnly.Dir = t.TempDir()
	c := e.client(sagemaker.Options{})
	for _, tc := range []struct {
		name string
		cfg  sagemaker.DeployConfig
		want string
	}{
		{"async without archive", sagemaker.DeployConfig{AppName: "a", Model: m, Async: true}, "must be archived"},
		{"bad mode", sagemaker.DeployConfig{AppName: "a", Model: m, Mode: "upsert"}, "mode must be one of"},
		{"app_name tag", sagemaker.DeployConfig{AppName: "a", Model: m, Tags: map[string]string{"app_name": "x"}}, `duplicate tag provided for "app_name"`},
		{"missing flavor", sagemaker.DeployConfig{AppName: "a", Model: m, Flavor: "onnx"}, `does not contain the deployment flavor "onnx"`},
		{"no python_function", sagemaker.DeployConfig{AppName: "a", Model: onnxOnly}, "has no python_function flavor"},
		{"no app", sagemaker.DeployConfig{Model: m}, "name is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Deploy(t.Context(), tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
	checkCalls(t, "validation", e.proxy.calls(), nil)
}

// TestDeployAssumeRole: with an assumed role every SageMaker, S3, STS and
// IAM call after AssumeRole is signed with the role's credentials, and the
// execution role defaults to the assumed role; the ECR look-up of the
// default image uses the caller's own credentials, as in MLflow.
func TestDeployAssumeRole(t *testing.T) {
	e := newEnv(t)
	deployer := e.createRole("deployer")
	if _, err := e.ecr().CreateRepository(t.Context(), &ecr.CreateRepositoryInput{RepositoryName: aws.String("mlship")}); err != nil {
		t.Fatal(err)
	}
	c := e.client(sagemaker.Options{AssumeRoleARN: deployer})
	d, err := c.Deploy(t.Context(), sagemaker.DeployConfig{AppName: "my-app", Model: writeModel(t)})
	if err != nil {
		t.Fatal(err)
	}
	checkCalls(t, "assume role", e.proxy.calls(), []string{
		"sts:AssumeRole",
		"sagemaker:ListEndpoints",
		"ecr:DescribeRepositories",
		"sts:GetCallerIdentity", "iam:GetRole",
		"sts:GetCallerIdentity", "s3:ListBuckets", "s3:CreateBucket",
		"s3:PutObject", "s3:PutObjectTagging",
		"sagemaker:CreateModel", "sagemaker:CreateEndpointConfig", "sagemaker:CreateEndpoint",
		"sagemaker:ListEndpoints",
	})
	if d.ExecutionRoleARN != deployer {
		t.Errorf("execution role %s, want the assumed %s", d.ExecutionRoleARN, deployer)
	}
	e.proxy.mu.Lock()
	defer e.proxy.mu.Unlock()
	for op, key := range e.proxy.keys {
		own := op == "sts:AssumeRole" || op == "ecr:DescribeRepositories"
		if own != (key == testKey) {
			t.Errorf("%s signed by %s", op, key)
		}
	}
}

// TestDeployMultipart: a model tarball larger than one part goes up in
// parts and arrives whole.
func TestDeployMultipart(t *testing.T) {
	e := newEnv(t)
	e.createBucket("models")
	m := writeModel(t)
	big := make([]byte, 11<<20) // random: the tarball needs three parts
	rand.NewChaCha8([32]byte{1}).Read(big)
	writeFile(t, m.Dir, "weights.bin", big)
	c := e.client(sagemaker.Options{PartSize: 5 << 20})
	d, err := c.Deploy(t.Context(), sagemaker.DeployConfig{
		AppName: "my-app", Model: m, ImageURL: testImage, ExecutionRoleARN: testRole, Bucket: "models",
	})
	if err != nil {
		t.Fatal(err)
	}
	var parts int
	for _, op := range e.proxy.calls() {
		switch op {
		case "s3:PutObject":
			t.Error("a single PutObject for a multi-part tarball")
		case "s3:UploadPart":
			parts++
		}
	}
	if parts < 2 {
		t.Errorf("%d parts", parts)
	}
	if diff := cmp.Diff(dirEntries(t, m.Dir), readTarball(t, e.object(d.ModelDataURL))); diff != "" {
		t.Errorf("model.tar.gz (-model dir +tarball):\n%s", diff)
	}
}

// TestDeploySharedModel: a model directory saved by MLflow 1.30 (read-only
// files) deploys, and its tarball holds exactly its files.
func TestDeploySharedModel(t *testing.T) {
	dir := testenv.SharedTestdata(t) + "/mlflow/mlflow_1x_sklearn_model"
	m, err := mlmodel.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	e.createBucket("models")
	d, err := e.client(sagemaker.Options{}).Deploy(t.Context(), sagemaker.DeployConfig{
		AppName: "sklearn", Model: m, ImageURL: testImage, ExecutionRoleARN: testRole, Bucket: "models",
	})
	if err != nil {
		t.Fatal(err)
	}
	got := readTarball(t, e.object(d.ModelDataURL))
	if diff := cmp.Diff(dirEntries(t, dir), got); diff != "" {
		t.Errorf("model.tar.gz (-model dir +tarball):\n%s", diff)
	}
	if _, ok := got["MLmodel"]; !ok {
		t.Error("no MLmodel at the tarball's top")
	}
}
