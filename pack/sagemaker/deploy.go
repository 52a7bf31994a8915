package sagemaker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"

	"github.com/mlship/mlship/mlmodel"
)

// Mode is how Deploy treats an existing endpoint of the same name.
type Mode string

const (
	// ModeCreate creates the endpoint and fails if it exists.
	ModeCreate Mode = "create"
	// ModeReplace creates the endpoint, or points an existing one at the
	// new model alone (weight 1) and deletes its old models.
	ModeReplace Mode = "replace"
	// ModeAdd creates the endpoint, or adds the new model to an existing
	// one as a variant of weight 0 beside the old variants.
	ModeAdd Mode = "add"
)

// AppNameTag tags endpoint configurations (and endpoints) with their app.
const AppNameTag = "app_name"

// DeployConfig is one deployment. Zero values take MLflow's defaults.
type DeployConfig struct {
	// AppName names the endpoint.
	AppName string
	// Model is the model directory's descriptor (mlmodel.Load); its Dir
	// is archived.
	Model *mlmodel.Model
	// ModelURI is recorded in the SageMaker model's model_uri tag
	// (default Model.Dir).
	ModelURI string
	// Flavor is the deployment flavor (default python_function).
	Flavor string
	// ExecutionRoleARN is the role SageMaker runs the model as (default:
	// the caller's role).
	ExecutionRoleARN string
	// Bucket receives the model data (default
	// mlflow-sagemaker-<region>-<account>, created when missing).
	Bucket string
	// ImageURL is the serving image (default: Client.DefaultImageURL).
	ImageURL      string
	InstanceType  string // default DefaultInstanceType
	InstanceCount int32  // default DefaultInstanceCount
	Mode          Mode   // default ModeCreate
	// Archive keeps replaced models and endpoint configurations.
	Archive bool
	// Async returns once SageMaker accepted the change; it requires
	// Archive.
	Async   bool
	Timeout time.Duration // default DefaultTimeout
	// VariantName names the new production variant (default: the new
	// SageMaker model's name).
	VariantName          string
	VpcConfig            *types.VpcConfig
	DataCaptureConfig    *types.DataCaptureConfig
	AsyncInferenceConfig *types.AsyncInferenceConfig
	// ServerlessConfig replaces the instance type and count.
	ServerlessConfig *types.ProductionVariantServerlessConfig
	// Env is added to the container's environment.
	Env map[string]string
	// Tags go on the SageMaker model and the endpoint.
	Tags map[string]string
}

// Deployment is what Deploy created.
type Deployment struct {
	AppName string
	Flavor  string
	// Updated is true when an existing endpoint was updated.
	Updated            bool
	ModelName          string
	EndpointConfigName string
	VariantName        string
	ModelDataURL       string
	ImageURL           string
	ExecutionRoleARN   string
	Bucket             string
}

// Deploy deploys a model as an endpoint, or updates an existing one, with
// MLflow's call sequence:
//
//  1. STS AssumeRole when Options.AssumeRoleARN is set;
//  2. SageMaker ListEndpoints(NameContains) until the endpoint is found
//     (ModeCreate on an existing endpoint fails here, before any change);
//  3. ECR DescribeRepositories for the default image, STS
//     GetCallerIdentity and IAM GetRole for the role, STS
//     GetCallerIdentity, S3 ListBuckets and CreateBucket for the default
//     bucket, each only when not given;
//  4. S3 PutObject <bucket>/<model-name>/model.tar.gz (multipart when
//     large) and PutObjectTagging SageMaker=true;
//  5. a new endpoint: CreateModel, CreateEndpointConfig, CreateEndpoint;
//     an existing one: DescribeEndpoint, DescribeEndpointConfig,
//     CreateModel, CreateEndpointConfig, UpdateEndpoint;
//  6. unless Async, poll until the endpoint is in service (ListEndpoints
//     for a new endpoint, DescribeEndpoint for an update) and, unless
//     Archive, delete what the update replaced (DescribeModel, S3
//     DeleteObject and DeleteModel for each old model in ModeReplace; then
//     DeleteEndpointConfig of the old configuration).
//
// A failed, rolled back or timed out wait is an *OperationError.
func (c *Client) Deploy(ctx context.Context, cfg DeployConfig) (*Deployment, error) {
	if err := c.checkDeploy(&cfg); err != nil {
		return nil, err
	}
	flavor, err := deploymentFlavor(cfg.Model, cfg.Flavor)
	if err != nil {
		return nil, err
	}
	c.log.Info("deploying", "app", cfg.AppName, "flavor", flavor, "mode", string(cfg.Mode), "region", c.region)
	s, err := c.session(ctx)
	if err != nil {
		return nil, err
	}
	existing, err := findEndpoint(ctx, s, cfg.AppName)
	if err != nil {
		return nil, err
	}
	if existing != nil && cfg.Mode == ModeCreate {
		return nil, fmt.Errorf("endpoint %s %w: deploy in %q or %q mode to update it", cfg.AppName, ErrExists, ModeAdd, ModeReplace)
	}
	d := &Deployment{
		AppName:          cfg.AppName,
		Flavor:           flavor,
		Updated:          existing != nil,
		ModelName:        modelName(cfg.AppName),
		ImageURL:         cfg.ImageURL,
		ExecutionRoleARN: cfg.ExecutionRoleARN,
		Bucket:           cfg.Bucket,
	}
	if err := c.resources(ctx, s, &d.ImageURL, &d.ExecutionRoleARN, &d.Bucket); err != nil {
		return nil, err
	}
	if d.ModelDataURL, err = c.uploadModel(ctx, s, cfg.Model.Dir, d.Bucket, d.ModelName); err != nil {
		return nil, err
	}
	ms := modelSpec{
		name: d.ModelName, dataURL: d.ModelDataURL, modelURI: cfg.ModelURI, image: d.ImageURL,
		role: d.ExecutionRoleARN, flavor: flavor, vpc: cfg.VpcConfig, env: cfg.Env, tags: cfg.Tags,
	}
	d.VariantName = cfg.VariantName
	if d.VariantName == "" {
		d.VariantName = d.ModelName
	}
	if existing == nil {
		check, err := c.createEndpoint(ctx, s, cfg, ms, d)
		if err != nil {
			return nil, err
		}
		return d, c.finish(ctx, "deployment", cfg.Async, cfg.Archive, cfg.Timeout, check, nil)
	}
	check, cleanup, err := c.updateEndpoint(ctx, s, cfg, ms, d)
	if err != nil {
		return nil, err
	}
	return d, c.finish(ctx, "deployment", cfg.Async, cfg.Archive, cfg.Timeout, check, cleanup)
}

// checkDeploy validates cfg and fills in defaults.
func (c *Client) checkDeploy(cfg *DeployConfig) error {
	if cfg.AppName == "" {
		return errors.New("an application (endpoint) name is required")
	}
	if cfg.Model == nil || cfg.Model.Dir == "" {
		return errors.New("a model directory is required")
	}
	if err := checkAsync("a deployment", cfg.Async, cfg.Archive); err != nil {
		return err
	}
	switch cfg.Mode {
	case "":
		cfg.Mode = ModeCreate
	case ModeCreate, ModeReplace, ModeAdd:
	default:
		return fmt.Errorf("mode must be one of: create, add, replace (not %q)", cfg.Mode)
	}
	if _, ok := cfg.Tags[AppNameTag]; ok {
		// MLflow finds this only after creating the model.
		return fmt.Errorf("duplicate tag provided for %q", AppNameTag)
	}
	if cfg.ModelURI == "" {
		cfg.ModelURI = cfg.Model.Dir
	}
	if cfg.InstanceType == "" {
		cfg.InstanceType = DefaultInstanceType
	}
	if cfg.InstanceCount == 0 {
		cfg.InstanceCount = DefaultInstanceCount
	}
	if cfg.InstanceCount < 0 {
		return fmt.Errorf("instance count %d is negative", cfg.InstanceCount)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	return nil
}

// variant is the new production variant.
func variant(cfg DeployConfig, d *Deployment, weight float32) types.ProductionVariant {
	v := types.ProductionVariant{
		VariantName:          aws.String(d.VariantName),
		ModelName:            aws.String(d.ModelName),
		InitialVariantWeight: aws.Float32(weight),
	}
	if cfg.ServerlessConfig != nil {
		v.ServerlessConfig = cfg.ServerlessConfig
	} else {
		v.InstanceType = types.ProductionVariantInstanceType(cfg.InstanceType)
		v.InitialInstanceCount = aws.Int32(cfg.InstanceCount)
	}
	return v
}

// createEndpointConfig creates a configuration tagged with the app's name.
func createEndpointConfig(ctx context.Context, s *session, cfg DeployConfig, d *Deployment, variants []types.ProductionVariant) error {
	d.EndpointConfigName = configName(cfg.AppName)
	in := &sm.CreateEndpointConfigInput{
		EndpointConfigName:   aws.String(d.EndpointConfigName),
		ProductionVariants:   variants,
		Tags:                 tagList(map[string]string{AppNameTag: cfg.AppName}),
		DataCaptureConfig:    cfg.DataCaptureConfig,
		AsyncInferenceConfig: cfg.AsyncInferenceConfig,
	}
	if _, err := s.sm.CreateEndpointConfig(ctx, in); err != nil {
		return fmt.Errorf("creating endpoint configuration %s: %w", d.EndpointConfigName, err)
	}
	return nil
}

// createEndpoint is MLflow's _create_sagemaker_endpoint.
func (c *Client) createEndpoint(ctx context.Context, s *session, cfg DeployConfig, ms modelSpec, d *Deployment) (func(context.Context) (status, error), error) {
	c.log.Info("creating a new endpoint", "app", cfg.AppName)
	model, err := createModel(ctx, s, ms)
	if err != nil {
		return nil, err
	}
	c.log.Info("created model", "arn", aws.ToString(model.ModelArn))
	if err := createEndpointConfig(ctx, s, cfg, d, []types.ProductionVariant{variant(cfg, d, 1)}); err != nil {
		return nil, err
	}
	tags := map[string]string{AppNameTag: cfg.AppName}
	for k, v := range cfg.Tags {
		tags[k] = v
	}
	out, err := s.sm.CreateEndpoint(ctx, &sm.CreateEndpointInput{
		EndpointName:       aws.String(cfg.AppName),
		EndpointConfigName: aws.String(d.EndpointConfigName),
		Tags:               tagList(tags),
	})
	if err != nil {
		return nil, fmt.Errorf("creating endpoint %s: %w", cfg.AppName, err)
	}
	c.log.Info("created endpoint", "arn", aws.ToString(out.EndpointArn))
	return func(ctx context.Context) (status, error) {
		ep, err := findEndpoint(ctx, s, cfg.AppName)
		if err != nil || ep == nil {
			return progress("Waiting for endpoint to be created..."), err
		}
		switch ep.EndpointStatus {
		case types.EndpointStatusCreating:
			return progress(fmt.Sprintf("Waiting for endpoint to reach the \"InService\" state. Current endpoint status: %q", ep.EndpointStatus)), nil
		case types.EndpointStatusInService:
			return success("The SageMaker endpoint was created successfully."), nil
		}
		return failure(c.failureReason(ctx, s, cfg.AppName)), nil
	}, nil
}

// failureReason asks DescribeEndpoint why an endpoint failed (MLflow reads
// it from the ListEndpoints summary, which never has one).
func (c *Client) failureReason(ctx context.Context, s *session, name string) string {
	out, err := s.sm.DescribeEndpoint(ctx, &sm.DescribeEndpointInput{EndpointName: aws.String(name)})
	if err != nil || aws.ToString(out.FailureReason) == "" {
		return unknownFailure
	}
	return aws.ToString(out.FailureReason)
}

// updateEndpoint is MLflow's _update_sagemaker_endpoint.
func (c *Client) updateEndpoint(ctx context.Context, s *session, cfg DeployConfig, ms modelSpec, d *Deployment) (
	check func(context.Context) (status, error), cleanup func(context.Context) error, err error) {
	ep, err := s.sm.DescribeEndpoint(ctx, &sm.DescribeEndpointInput{EndpointName: aws.String(cfg.AppName)})
	if err != nil {
		return nil, nil, fmt.Errorf("describing endpoint %s: %w", cfg.AppName, err)
	}
	oldConfig := aws.ToString(ep.EndpointConfigName)
	old, err := s.sm.DescribeEndpointConfig(ctx, &sm.DescribeEndpointConfigInput{EndpointConfigName: aws.String(oldConfig)})
	if err != nil {
		return nil, nil, fmt.Errorf("describing endpoint configuration %s: %w", oldConfig, err)
	}
	c.log.Info("found an active endpoint: updating it", "arn", aws.ToString(ep.EndpointArn))
	model, err := createModel(ctx, s, ms)
	if err != nil {
		return nil, nil, err
	}
	c.log.Info("created new model", "arn", aws.ToString(model.ModelArn))
	var variants []types.ProductionVariant
	if cfg.Mode == ModeAdd {
		variants = append(variants, old.ProductionVariants...)
		variants = append(variants, variant(cfg, d, 0))
	} else {
		variants = []types.ProductionVariant{variant(cfg, d, 1)}
	}
	if err := createEndpointConfig(ctx, s, cfg, d, variants); err != nil {
		return nil, nil, err
	}
	_, err = s.sm.UpdateEndpoint(ctx, &sm.UpdateEndpointInput{
		EndpointName:       aws.String(cfg.AppName),
		EndpointConfigName: aws.String(d.EndpointConfigName),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("updating endpoint %s: %w", cfg.AppName, err)
	}
	c.log.Info("updated the endpoint with the new configuration", "config", d.EndpointConfigName)
	started := time.Now()
	check = func(ctx context.Context) (status, error) {
		if time.Since(started) < c.grace {
			return progress("The operation is still in progress."), nil
		}
		ep, err := s.sm.DescribeEndpoint(ctx, &sm.DescribeEndpointInput{EndpointName: aws.String(cfg.AppName)})
		if err != nil {
			return status{}, fmt.Errorf("describing endpoint %s: %w", cfg.AppName, err)
		}
		rolledBack := ep.EndpointStatus == types.EndpointStatusInService && aws.ToString(ep.EndpointConfigName) != d.EndpointConfigName
		switch {
		case rolledBack || ep.EndpointStatus == types.EndpointStatusFailed:
			reason := aws.ToString(ep.FailureReason)
			if reason == "" {
				reason = unknownFailure
			}
			return failure(reason), nil
		case ep.EndpointStatus == types.EndpointStatusInService:
			return success("The SageMaker endpoint was updated successfully."), nil
		}
		return progress(fmt.Sprintf("The update operation is still in progress. Current endpoint status: %q", ep.EndpointStatus)), nil
	}
	cleanup = func(ctx context.Context) error {
		if cfg.Mode == ModeReplace {
			for _, v := range old.ProductionVariants {
				arn, err := deleteModel(ctx, s, aws.ToString(v.ModelName))
				if err != nil {
					return err
				}
				c.log.Info("deleted model", "arn", arn)
			}
		}
		if _, err := s.sm.DeleteEndpointConfig(ctx, &sm.DeleteEndpointConfigInput{EndpointConfigName: aws.String(oldConfig)}); err != nil {
			return fmt.Errorf("deleting endpoint configuration %s: %w", oldConfig, err)
		}
		c.log.Info("deleted endpoint configuration", "arn", aws.ToString(old.EndpointConfigArn))
		return nil
	}
	return check, cleanup, nil
}

// findEndpoint pages through ListEndpoints(NameContains=name) for the
// endpoint named name, nil when there is none (MLflow's _find_endpoint).
func findEndpoint(ctx context.Context, s *session, name string) (*types.EndpointSummary, error) {
	in := &sm.ListEndpointsInput{NameContains: aws.String(name), MaxResults: aws.Int32(100)}
	for {
		out, err := s.sm.ListEndpoints(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("listing endpoints: %w", err)
		}
		for i := range out.Endpoints {
			if aws.ToString(out.Endpoints[i].EndpointName) == name {
				return &out.Endpoints[i], nil
			}
		}
		if aws.ToString(out.NextToken) == "" {
			return nil, nil
		}
		in.NextToken = out.NextToken
	}
}
