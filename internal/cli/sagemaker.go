package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mlship/mlship/mlmodel"
	"github.com/mlship/mlship/pack/sagemaker"
)

// NewCmdSageMaker is `mlship sagemaker ...`: MLflow's SageMaker commands.
func NewCmdSageMaker(d *deps) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sagemaker",
		Short: "Deploy models to Amazon SageMaker, as `mlflow sagemaker` does",
		Long: "Deploy model directories to Amazon SageMaker endpoints and batch transform jobs with\n" +
			"MLflow's options and AWS call sequence: the model goes to S3 as model.tar.gz and runs in an\n" +
			"mlship image from ECR (`mlship sagemaker build-and-push-container`). Credentials come from\n" +
			"the AWS SDK's default chain (environment, ~/.aws, SSO, instance roles). See docs/sagemaker.md.",
	}
	cmd.AddCommand(
		newCmdSageMakerDeploy(d),
		newCmdSageMakerDelete(d),
		newCmdSageMakerTransform(d),
		newCmdSageMakerTerminate(d),
		newCmdSageMakerPushModel(d),
		newCmdSageMakerBuildAndPush(d),
	)
	return cmd
}

// awsOptions are the flags every `mlship sagemaker` command takes: where
// and as whom to act.
type awsOptions struct {
	region        string
	endpointURL   string
	assumeRoleARN string
	pollInterval  time.Duration
	updateGrace   time.Duration
}

func (o *awsOptions) AddFlags(fs *pflag.FlagSet, d *deps, assume bool) {
	fs.StringVar(&o.region, "region-name", "", "AWS region (default: AWS_REGION, else AWS_DEFAULT_REGION, else "+sagemaker.DefaultRegion+")")
	fs.StringVar(&o.endpointURL, "endpoint-url", d.env.get("AWS_ENDPOINT_URL"),
		"send every AWS request (STS, IAM, S3, ECR, SageMaker) to this endpoint, e.g. an emulator such as moto (env AWS_ENDPOINT_URL)")
	if assume {
		fs.StringVar(&o.assumeRoleARN, "assume-role-arn", "", "assume this IAM role (session mlflow-sagemaker) to act in another account")
	}
	fs.DurationVar(&o.pollInterval, "poll-interval", sagemaker.DefaultPollInterval, "pause between status requests while waiting")
	fs.DurationVar(&o.updateGrace, "update-grace", sagemaker.DefaultUpdateGrace, "after UpdateEndpoint, how long before the endpoint's status is read")
	_ = fs.MarkHidden("poll-interval")
	_ = fs.MarkHidden("update-grace")
}

// client builds the SageMaker client. Static credentials come from
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN when set;
// otherwise the SDK's default chain finds them.
func (o *awsOptions) client(ctx context.Context, d *deps) (*sagemaker.Client, error) {
	region := o.region
	for _, k := range []string{"AWS_REGION", "AWS_DEFAULT_REGION"} {
		if region == "" {
			region = d.env.get(k)
		}
	}
	opts := sagemaker.Options{
		Region:        region,
		EndpointURL:   o.endpointURL,
		AssumeRoleARN: o.assumeRoleARN,
		Logger:        d.logger(),
		ImageTag:      Version(),
		PollInterval:  o.pollInterval,
		UpdateGrace:   o.updateGrace,
	}
	if opts.UpdateGrace == 0 {
		opts.UpdateGrace = -1 // the flag's 0 means none; the library's 0 means the default
	}
	if id, secret := d.env.get("AWS_ACCESS_KEY_ID"), d.env.get("AWS_SECRET_ACCESS_KEY"); id != "" && secret != "" {
		opts.Credentials = credentials.NewStaticCredentialsProvider(id, secret, d.env.get("AWS_SESSION_TOKEN"))
	}
	return sagemaker.New(ctx, opts)
}

// modelOptions are the flags that say which model goes where.
type modelOptions struct {
	model            string
	flavor           string
	executionRoleARN string
	bucket           string
	imageURL         string
	vpcConfig        string
}

func (o *modelOptions) AddFlags(fs *pflag.FlagSet, d *deps) {
	fs.StringVarP(&o.model, "model-uri", "m", "", "model: a directory, its MLmodel file, or a file:// URI")
	fs.StringVarP(&o.flavor, "flavor", "f", "", "deployment flavor recorded in MLFLOW_DEPLOYMENT_FLAVOR_NAME (default python_function; the model must have it)")
	fs.StringVarP(&o.executionRoleARN, "execution-role-arn", "e", "", "IAM role SageMaker runs the model as (default: the caller's role)")
	fs.StringVarP(&o.bucket, "bucket", "b", "", "S3 bucket for the model tarball (default mlflow-sagemaker-REGION-ACCOUNT, created when missing)")
	fs.StringVarP(&o.imageURL, "image-url", "i", d.env.get("MLFLOW_SAGEMAKER_DEPLOY_IMG_URL"),
		"serving image (env MLFLOW_SAGEMAKER_DEPLOY_IMG_URL; default: ECR repository "+sagemaker.DefaultImageRepository+" tagged with this mlship's version)")
	fs.StringVarP(&o.vpcConfig, "vpc-config", "v", "", "JSON file with the model's VpcConfig ({\"SecurityGroupIds\": [...], \"Subnets\": [...]})")
}

// load reads the model and the VPC configuration.
func (o *modelOptions) load() (*mlmodel.Model, *types.VpcConfig, error) {
	if o.model == "" {
		return nil, nil, fmt.Errorf("--model-uri is required")
	}
	m, err := mlmodel.Load(o.model)
	if err != nil {
		return nil, nil, err
	}
	vpc, err := optionalJSON[types.VpcConfig]("--vpc-config", o.vpcConfig)
	if err != nil {
		return nil, nil, err
	}
	return m, vpc, nil
}

// optionalJSON decodes the JSON file at path, if any, into one of the
// SDK's types, whose fields are named as in the SageMaker API; unknown
// fields are errors.
func optionalJSON[T any](flag, path string) (*T, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	v := new(T)
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return nil, fmt.Errorf("%s %s: %w", flag, path, err)
	}
	return v, nil
}

// keyValues parses repeated KEY=VALUE flags; a value that is a JSON
// object (MLflow's deployment-config form, '{"k": "v"}') is taken whole.
func keyValues(flag string, kvs []string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	m := map[string]string{}
	for _, kv := range kvs {
		if strings.HasPrefix(strings.TrimSpace(kv), "{") {
			var obj map[string]any
			if err := json.Unmarshal([]byte(kv), &obj); err != nil {
				return nil, fmt.Errorf("%s %q: %w", flag, kv, err)
			}
			for k, v := range obj {
				if s, ok := v.(string); ok {
					m[k] = s
				} else {
					m[k] = fmt.Sprint(v)
				}
			}
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%s %q: want KEY=VALUE", flag, kv)
		}
		m[k] = v
	}
	return m, nil
}

type sagemakerDeployOptions struct {
	awsOptions
	modelOptions
	app                  string
	mode                 string
	archive              bool
	async                bool
	timeout              int
	instanceType         string
	instanceCount        int
	variantName          string
	env                  []string
	tags                 []string
	dataCaptureConfig    string
	asyncInferenceConfig string
	serverlessConfig     string
}

func (o *sagemakerDeployOptions) AddFlags(fs *pflag.FlagSet, d *deps) {
	o.awsOptions.AddFlags(fs, d, true)
	o.modelOptions.AddFlags(fs, d)
	fs.StringVarP(&o.app, "name", "n", "", "application (endpoint) name")
	fs.StringVarP(&o.app, "app-name", "a", "", "MLflow 1.x's name for --name")
	_ = fs.MarkHidden("app-name")
	fs.StringVar(&o.mode, "mode", string(sagemaker.ModeCreate), "create (fail if the endpoint exists), replace (serve only the new model) or add (add the new model at weight 0)")
	fs.BoolVar(&o.archive, "archive", false, "keep the models and endpoint configuration a replace or add makes unused (required with --async)")
	fs.BoolVar(&o.async, "async", false, "return once SageMaker accepted the change instead of waiting for the endpoint")
	fs.IntVar(&o.timeout, "timeout", int(sagemaker.DefaultTimeout/time.Second), "seconds to wait for the endpoint before giving up (the deployment may still finish)")
	fs.StringVarP(&o.instanceType, "instance-type", "t", sagemaker.DefaultInstanceType, "SageMaker ML instance type")
	fs.IntVarP(&o.instanceCount, "instance-count", "c", sagemaker.DefaultInstanceCount, "number of instances")
	fs.StringVar(&o.variantName, "variant-name", "", "name of the new production variant (default: the new SageMaker model's name)")
	fs.StringArrayVar(&o.env, "env", nil, "KEY=VALUE added to the container's environment (repeatable; or a JSON object)")
	fs.StringArrayVar(&o.tags, "tags", nil, "KEY=VALUE tag for the SageMaker model and endpoint (repeatable; or a JSON object)")
	fs.StringVar(&o.dataCaptureConfig, "data-capture-config", "", "JSON file with the endpoint configuration's DataCaptureConfig")
	fs.StringVar(&o.asyncInferenceConfig, "async-inference-config", "", "JSON file with the endpoint configuration's AsyncInferenceConfig")
	fs.StringVar(&o.serverlessConfig, "serverless-config", "", "JSON file with the variant's ServerlessConfig ({\"MemorySizeInMB\": 2048, \"MaxConcurrency\": 20}), instead of instances")
}

func newCmdSageMakerDeploy(d *deps) *cobra.Command {
	o := &sagemakerDeployOptions{}
	cmd := &cobra.Command{
		Use:   "deploy -n APP -m MODEL",
		Short: "Deploy a model as a SageMaker endpoint, or update one",
		Long: "Upload the model to S3, create a SageMaker model running the serving image on it, and create\n" +
			"the endpoint APP or, with --mode replace|add, update it; then wait until it is in service\n" +
			"(unless --async) and delete what the update made unused (unless --archive).",
		Example: "  mlship sagemaker deploy -n iris -m ./model -e arn:aws:iam::123456789012:role/sagemaker\n" +
			"  mlship sagemaker deploy -n iris -m ./model-v2 --mode replace --region-name eu-west-1",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runSageMakerDeploy(cmd, d, o) },
	}
	o.AddFlags(cmd.Flags(), d)
	return cmd
}

func runSageMakerDeploy(cmd *cobra.Command, d *deps, o *sagemakerDeployOptions) error {
	if o.app == "" {
		return fmt.Errorf("--name is required")
	}
	m, vpc, err := o.modelOptions.load()
	if err != nil {
		return err
	}
	cfg := sagemaker.DeployConfig{
		AppName: o.app, Model: m, ModelURI: o.model, Flavor: o.flavor,
		ExecutionRoleARN: o.executionRoleARN, Bucket: o.bucket, ImageURL: o.imageURL,
		InstanceType: o.instanceType, InstanceCount: int32(o.instanceCount),
		Mode: sagemaker.Mode(o.mode), Archive: o.archive, Async: o.async,
		Timeout: time.Duration(o.timeout) * time.Second, VariantName: o.variantName, VpcConfig: vpc,
	}
	if cfg.Env, err = keyValues("--env", o.env); err != nil {
		return err
	}
	// As MLflow: the caller's proxy settings reach the container.
	for _, k := range []string{"http_proxy", "https_proxy", "no_proxy"} {
		if v := d.env.get(k); v != "" {
			if cfg.Env == nil {
				cfg.Env = map[string]string{}
			}
			cfg.Env[k] = v
		}
	}
	if cfg.Tags, err = keyValues("--tags", o.tags); err != nil {
		return err
	}
	if cfg.DataCaptureConfig, err = optionalJSON[types.DataCaptureConfig]("--data-capture-config", o.dataCaptureConfig); err != nil {
		return err
	}
	if cfg.AsyncInferenceConfig, err = optionalJSON[types.AsyncInferenceConfig]("--async-inference-config", o.asyncInferenceConfig); err != nil {
		return err
	}
	if cfg.ServerlessConfig, err = optionalJSON[types.ProductionVariantServerlessConfig]("--serverless-config", o.serverlessConfig); err != nil {
		return err
	}
	c, err := o.awsOptions.client(cmd.Context(), d)
	if err != nil {
		return err
	}
	dep, err := c.Deploy(cmd.Context(), cfg)
	if dep != nil {
		verb := "created"
		if dep.Updated {
			verb = "updated (" + string(cfg.Mode) + ")"
		}
		if o.async {
			verb += ", not waited for"
		}
		fmt.Fprintf(d.stdout, "endpoint  %s %s in %s\n", dep.AppName, verb, c.Region())
		fmt.Fprintf(d.stdout, "model     %s (variant %s, flavor %s)\n", dep.ModelName, dep.VariantName, dep.Flavor)
		fmt.Fprintf(d.stdout, "config    %s\n", dep.EndpointConfigName)
		fmt.Fprintf(d.stdout, "image     %s\n", dep.ImageURL)
		fmt.Fprintf(d.stdout, "data      %s\n", dep.ModelDataURL)
	}
	return err
}

type sagemakerDeleteOptions struct {
	awsOptions
	app     string
	archive bool
	async   bool
	timeout int
}

func newCmdSageMakerDelete(d *deps) *cobra.Command {
	o := &sagemakerDeleteOptions{}
	cmd := &cobra.Command{
		Use:   "delete -n APP",
		Short: "Delete a SageMaker endpoint, its configuration and its models",
		Long: "Delete the endpoint APP, wait until it is gone (unless --async), then delete its endpoint\n" +
			"configuration, its models and their data in S3 (unless --archive).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.app == "" {
				return fmt.Errorf("--name is required")
			}
			c, err := o.awsOptions.client(cmd.Context(), d)
			if err != nil {
				return err
			}
			err = c.Delete(cmd.Context(), sagemaker.DeleteConfig{
				AppName: o.app, Archive: o.archive, Async: o.async, Timeout: time.Duration(o.timeout) * time.Second,
			})
			if err == nil {
				fmt.Fprintf(d.stdout, "endpoint  %s deleted in %s\n", o.app, c.Region())
			}
			return err
		},
	}
	fs := cmd.Flags()
	o.awsOptions.AddFlags(fs, d, true)
	fs.StringVarP(&o.app, "name", "n", "", "application (endpoint) name")
	fs.StringVarP(&o.app, "app-name", "a", "", "MLflow 1.x's name for --name")
	_ = fs.MarkHidden("app-name")
	fs.BoolVar(&o.archive, "archive", false, "keep the endpoint configuration, models and model data (required with --async)")
	fs.BoolVar(&o.async, "async", false, "return once SageMaker accepted the deletion")
	fs.IntVar(&o.timeout, "timeout", int(sagemaker.DefaultDeleteTimeout/time.Second), "seconds to wait for the deletion")
	return cmd
}
