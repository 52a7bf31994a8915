package cli

import (
	"bytes"
	"context"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/mlship/mlship/internal/testenv"
)

// TestSageMakerCommands drives `mlship sagemaker` against a moto server:
// flags and environment reach the AWS calls as MLflow's CLI passes them.
func TestSageMakerCommands(t *testing.T) {
	srv := testenv.Moto(t)
	env := map[string]string{
		"AWS_ACCESS_KEY_ID":               "AKIDCLI",
		"AWS_SECRET_ACCESS_KEY":           "secret",
		"AWS_DEFAULT_REGION":              "eu-west-1",
		"AWS_ENDPOINT_URL":                srv.URL,
		"MLFLOW_SAGEMAKER_DEPLOY_IMG_URL": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlship:test",
		"http_proxy":                      "http://proxy.internal:3128",
		"HOME":                            t.TempDir(),
	}
	run := func(t *testing.T, args ...string) (string, error) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		cmd := New(&stdout, &stderr, func(k string) string { return env[k] })
		cmd.SetArgs(append(args, "--poll-interval", "10ms"))
		err := cmd.ExecuteContext(context.Background())
		t.Logf("mlship %s\n%s%s", strings.Join(args, " "), stdout.String(), stderr.String())
		return stdout.String(), err
	}
	cfg, err := config.LoadDefaultConfig(t.Context(), config.WithRegion("eu-west-1"), config.WithBaseEndpoint(srv.URL),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDCLI", "secret", "")))
	if err != nil {
		t.Fatal(err)
	}
	smc := sm.NewFromConfig(cfg)
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })

	dir := t.TempDir()
	model := filepath.Join(dir, "model")
	writeTestFile(t, filepath.Join(model, "MLmodel"), "flavors:\n  python_function:\n    loader_module: mlflow.sklearn\n  sklearn: {}\n")
	writeTestFile(t, filepath.Join(model, "model.pkl"), "weights")
	vpc := filepath.Join(dir, "vpc.json")
	writeTestFile(t, vpc, `{"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-1", "subnet-2"]}`)
	role := "arn:aws:iam::123456789012:role/sm"

	t.Run("deploy", func(t *testing.T) {
		out, err := run(t, "sagemaker", "deploy", "-n", "iris", "-m", model, "-e", role,
			"--env", "MLSHIP_LOG_LEVEL=debug", "--tags", `{"team": "ml"}`, "--tags", "cost=1",
			"-v", vpc, "-t", "ml.c5.large", "-c", "2")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "endpoint  iris created in eu-west-1") {
			t.Errorf("output:\n%s", out)
		}
		ep, err := smc.DescribeEndpoint(t.Context(), &sm.DescribeEndpointInput{EndpointName: aws.String("iris")})
		if err != nil {
			t.Fatal(err)
		}
		conf, err := smc.DescribeEndpointConfig(t.Context(), &sm.DescribeEndpointConfigInput{EndpointConfigName: ep.EndpointConfigName})
		if err != nil {
			t.Fatal(err)
		}
		v := conf.ProductionVariants[0]
		if v.InstanceType != "ml.c5.large" || aws.ToInt32(v.InitialInstanceCount) != 2 {
			t.Errorf("variant %s × %d", v.InstanceType, aws.ToInt32(v.InitialInstanceCount))
		}
		m, err := smc.DescribeModel(t.Context(), &sm.DescribeModelInput{ModelName: v.ModelName})
		if err != nil {
			t.Fatal(err)
		}
		wantEnv := map[string]string{
			"MLFLOW_DEPLOYMENT_FLAVOR_NAME": "python_function", "SERVING_ENVIRONMENT": "SageMaker",
			"MLSHIP_LOG_LEVEL": "debug", "http_proxy": "http://proxy.internal:3128",
		}
		if diff := cmp.Diff(wantEnv, m.PrimaryContainer.Environment); diff != "" {
			t.Errorf("environment (-want +got):\n%s", diff)
		}
		if got := aws.ToString(m.PrimaryContainer.Image); got != env["MLFLOW_SAGEMAKER_DEPLOY_IMG_URL"] {
			t.Errorf("image %s", got)
		}
		if diff := cmp.Diff([]string{"subnet-1", "subnet-2"}, m.VpcConfig.Subnets); diff != "" {
			t.Errorf("VPC subnets (-want +got):\n%s", diff)
		}
		tags, err := smc.ListTags(t.Context(), &sm.ListTagsInput{ResourceArn: ep.EndpointArn})
		if err != nil {
			t.Fatal(err)
		}
		if len(tags.Tags) != 3 {
			t.Errorf("endpoint tags %v", tags.Tags)
		}
		bucket := "mlflow-sagemaker-eu-west-1-123456789012"
		if _, err := s3c.HeadObject(t.Context(), &s3.HeadObjectInput{
			Bucket: aws.String(bucket), Key: aws.String(aws.ToString(v.ModelName) + "/model.tar.gz"),
		}); err != nil {
			t.Errorf("model tarball: %v", err)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"deploy", "-n", "iris", "-m", model, "-e", role}, "already exists"},
			{[]string{"deploy", "-n", "iris", "-m", model, "--mode", "upsert"}, "mode must be one of"},
			{[]string{"deploy", "-n", "iris", "-m", model, "--mode", "replace", "--async"}, "must be archived"},
			{[]string{"deploy", "-n", "iris", "-m", model, "--env", "NOEQUALS"}, `--env "NOEQUALS": want KEY=VALUE`},
			{[]string{"deploy", "-n", "iris", "-m", model, "-v", model + "/MLmodel"}, "--vpc-config"},
			{[]string{"deploy", "-m", model}, "--name is required"},
			{[]string{"build-and-push-container"}, "--model-uri is required to build"},
		} {
			_, err := run(t, append([]string{"sagemaker"}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
			}
		}
	})

	t.Run("delete", func(t *testing.T) {
		out, err := run(t, "sagemaker", "delete", "-n", "iris")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "endpoint  iris deleted") {
			t.Errorf("output:\n%s", out)
		}
		models, err := smc.ListModels(t.Context(), &sm.ListModelsInput{})
		if err != nil {
			t.Fatal(err)
		}
		if len(models.Models) != 0 {
			t.Errorf("models left: %v", models.Models)
		}
	})

	t.Run("deploy-transform-job", func(t *testing.T) {
		out, err := run(t, "sagemaker", "deploy-transform-job", "-n", "nightly", "-m", model, "-e", role,
			"--input-data-type", "S3Prefix", "-u", "s3://data/in/", "--content-type", "application/json",
			"-o", "s3://data/out/", "-s", "None", "-a", "application/json", "--archive")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "job       nightly completed") {
			t.Errorf("output:\n%s", out)
		}
		job, err := smc.DescribeTransformJob(t.Context(), &sm.DescribeTransformJobInput{TransformJobName: aws.String("nightly")})
		if err != nil {
			t.Fatal(err)
		}
		if job.TransformInput.SplitType != "None" || aws.ToString(job.TransformOutput.Accept) != "application/json" ||
			aws.ToString(job.TransformInput.ContentType) != "application/json" {
			t.Errorf("job input %+v, output %+v", job.TransformInput, job.TransformOutput)
		}
		if _, err := smc.DescribeModel(t.Context(), &sm.DescribeModelInput{ModelName: job.ModelName}); err != nil {
			t.Errorf("--archive: %v", err)
		}
	})

	t.Run("build-and-push-container", func(t *testing.T) {
		reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
		defer reg.Close()
		img, err := random.Image(256, 1)
		if err != nil {
			t.Fatal(err)
		}
		lay := filepath.Join(dir, "layout")
		p, err := layout.Write(lay, empty.Index)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.AppendImage(img); err != nil {
			t.Fatal(err)
		}
		host := strings.TrimPrefix(reg.URL, "http://")
		out, err := run(t, "sagemaker", "build-and-push-container", "--no-build", "--image", lay,
			"-c", "serving", "--tag", "v1", "--registry", host)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := img.Digest()
		if !strings.Contains(out, "pushed    "+host+"/serving:v1") || !strings.Contains(out, want.String()) {
			t.Errorf("output:\n%s", out)
		}
		ref, err := name.ParseReference(host + "/serving:v1")
		if err != nil {
			t.Fatal(err)
		}
		got, err := remote.Head(ref)
		if err != nil || got.Digest != want {
			t.Errorf("pushed image: %v %v", got, err)
		}
	})

	t.Run("build and push", func(t *testing.T) {
		reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
		defer reg.Close()
		host := strings.TrimPrefix(reg.URL, "http://")
		out, stderr, err := buildDockerCLI(t, env, "sagemaker", "build-and-push-container",
			"-m", example(t, "iris-onnx"), "--registry", host, "--poll-interval", "10ms")
		if err != nil {
			t.Fatalf("%v\n%s", err, stderr)
		}
		ref, err := name.ParseReference(host + "/mlship:" + Version())
		if err != nil {
			t.Fatal(err)
		}
		img, err := remote.Image(ref)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"/opt/mlship/bin/mlship"}, cf.Config.Entrypoint); diff != "" {
			t.Errorf("entrypoint (-want +got):\n%s", diff)
		}
		if d, _ := img.Digest(); !strings.Contains(out, d.String()) {
			t.Errorf("output does not name the digest %s:\n%s", d, out)
		}
	})
}

func writeTestFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
