package sagemaker

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"

	"github.com/mlship/mlship/mlmodel"
)

// PushModelConfig is one SageMaker model made from a model directory.
type PushModelConfig struct {
	// ModelName is the SageMaker model's name, used as given.
	ModelName        string
	Model            *mlmodel.Model
	ModelURI         string // default Model.Dir
	Flavor           string // default python_function
	ExecutionRoleARN string
	Bucket           string
	ImageURL         string
	VpcConfig        *types.VpcConfig
}

// PushModel uploads a model and creates a SageMaker model from it without
// deploying it (MLflow's push_model_to_sagemaker): AssumeRole when set;
// DescribeModel (a model of that name is an error); the image, role and
// bucket as Deploy resolves them; the model tarball to S3; CreateModel.
// It returns the model's ARN.
func (c *Client) PushModel(ctx context.Context, cfg PushModelConfig) (string, error) {
	if cfg.ModelName == "" {
		return "", errors.New("a SageMaker model name is required")
	}
	if cfg.Model == nil || cfg.Model.Dir == "" {
		return "", errors.New("a model directory is required")
	}
	flavor, err := deploymentFlavor(cfg.Model, cfg.Flavor)
	if err != nil {
		return "", err
	}
	s, err := c.session(ctx)
	if err != nil {
		return "", err
	}
	exists, err := modelExists(ctx, s, cfg.ModelName)
	if err != nil {
		return "", err
	}
	if exists {
		return "", fmt.Errorf("SageMaker model %s %w", cfg.ModelName, ErrExists)
	}
	image, role, bucket := cfg.ImageURL, cfg.ExecutionRoleARN, cfg.Bucket
	if err := c.resources(ctx, s, &image, &role, &bucket); err != nil {
		return "", err
	}
	url, err := c.uploadModel(ctx, s, cfg.Model.Dir, bucket, cfg.ModelName)
	if err != nil {
		return "", err
	}
	out, err := createModel(ctx, s, modelSpec{
		name: cfg.ModelName, dataURL: url, modelURI: orDefault(cfg.ModelURI, cfg.Model.Dir),
		image: image, role: role, flavor: flavor, vpc: cfg.VpcConfig,
	})
	if err != nil {
		return "", err
	}
	c.log.Info("created SageMaker model", "arn", aws.ToString(out.ModelArn))
	return aws.ToString(out.ModelArn), nil
}
