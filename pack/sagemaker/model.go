package sagemaker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/aws/smithy-go"

	"github.com/mlship/mlship/mlmodel"
)

// Environment variables every SageMaker model gets, as MLflow sets them.
const (
	EnvFlavor      = "MLFLOW_DEPLOYMENT_FLAVOR_NAME"
	EnvServing     = "SERVING_ENVIRONMENT"
	ServingSageMkr = "SageMaker"
)

// ErrExists is an endpoint, transform job or model that create would
// collide with.
var ErrExists = errors.New("already exists")

// deploymentFlavor is the flavor a model is deployed with: the one asked
// for, which the model must have, else python_function (MLflow's choice;
// mlship serves the model with its own preference either way, the value
// only reaches the container's environment).
func deploymentFlavor(m *mlmodel.Model, flavor string) (string, error) {
	if flavor != "" {
		if _, ok := m.Flavors[flavor]; !ok {
			return "", fmt.Errorf("the model does not contain the deployment flavor %q; it has: %s",
				flavor, strings.Join(m.FlavorNames(), ", "))
		}
		return flavor, nil
	}
	if _, ok := m.Flavors["python_function"]; ok {
		return "python_function", nil
	}
	return "", fmt.Errorf("the model has no python_function flavor (it has: %s): name one with --flavor",
		strings.Join(m.FlavorNames(), ", "))
}

// modelSpec is what CreateModel needs, shared by endpoints, transform jobs
// and push-model.
type modelSpec struct {
	name, dataURL, modelURI, image, role, flavor string
	vpc                                          *types.VpcConfig
	env, tags                                    map[string]string
}

// createModel is MLflow's _create_sagemaker_model: the image, the model
// data, the flavor and serving environment plus env, tagged with tags and
// model_uri.
func createModel(ctx context.Context, s *session, ms modelSpec) (*sm.CreateModelOutput, error) {
	env := map[string]string{EnvFlavor: ms.flavor, EnvServing: ServingSageMkr}
	maps.Copy(env, ms.env)
	tags := maps.Clone(ms.tags)
	if tags == nil {
		tags = map[string]string{}
	}
	tags["model_uri"] = ms.modelURI
	out, err := s.sm.CreateModel(ctx, &sm.CreateModelInput{
		ModelName: aws.String(ms.name),
		PrimaryContainer: &types.ContainerDefinition{
			Image:        aws.String(ms.image),
			ModelDataUrl: aws.String(ms.dataURL),
			Environment:  env,
		},
		ExecutionRoleArn: aws.String(ms.role),
		Tags:             tagList(tags),
		VpcConfig:        ms.vpc,
	})
	if err != nil {
		return nil, fmt.Errorf("creating model %s: %w", ms.name, err)
	}
	return out, nil
}

// deleteModel removes a model and its data in S3 (MLflow's
// _delete_sagemaker_model) and returns the model's ARN.
func deleteModel(ctx context.Context, s *session, name string) (string, error) {
	info, err := s.sm.DescribeModel(ctx, &sm.DescribeModelInput{ModelName: aws.String(name)})
	if err != nil {
		return "", fmt.Errorf("describing model %s: %w", name, err)
	}
	if info.PrimaryContainer != nil && aws.ToString(info.PrimaryContainer.ModelDataUrl) != "" {
		bucket, key, err := parseS3URL(aws.ToString(info.PrimaryContainer.ModelDataUrl))
		if err != nil {
			return "", fmt.Errorf("model %s: %w", name, err)
		}
		if _, err := s.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err != nil {
			return "", fmt.Errorf("deleting the data of model %s: %w", name, err)
		}
	}
	if _, err := s.sm.DeleteModel(ctx, &sm.DeleteModelInput{ModelName: aws.String(name)}); err != nil {
		return "", fmt.Errorf("deleting model %s: %w", name, err)
	}
	return aws.ToString(info.ModelArn), nil
}

// tagList turns a map into SageMaker tags, sorted by key so requests are
// reproducible.
func tagList(m map[string]string) []types.Tag {
	tags := make([]types.Tag, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		tags = append(tags, types.Tag{Key: aws.String(k), Value: aws.String(m[k])})
	}
	return tags
}

// executionRole is the role the caller acts as (MLflow's
// _get_assumed_role_arn): GetCallerIdentity gives arn:...:assumed-role/NAME/...
// and IAM GetRole(NAME) its ARN.
func executionRole(ctx context.Context, s *session) (string, error) {
	id, err := s.sts.GetCallerIdentity(ctx, nil)
	if err != nil {
		return "", fmt.Errorf("finding the caller's role: %w", err)
	}
	arn := aws.ToString(id.Arn)
	parts := strings.Split(arn, "/")
	if len(parts) < 2 || parts[1] == "" {
		return "", fmt.Errorf("cannot take a role name from the caller %s: give an execution role ARN", arn)
	}
	role, err := s.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(parts[1])})
	if err != nil {
		return "", fmt.Errorf("finding role %s of the caller %s (give an execution role ARN): %w", parts[1], arn, err)
	}
	return aws.ToString(role.Role.Arn), nil
}

// DefaultImageURL is the image deploy uses when none is given: the URI of
// the ECR repository DefaultImageRepository with tag Options.ImageTag
// (MLflow's _get_default_image_url, with its own repository and version).
func (c *Client) DefaultImageURL(ctx context.Context) (string, error) {
	out, err := c.ecrClient().DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{
		RepositoryNames: []string{DefaultImageRepository},
	})
	if err != nil {
		return "", fmt.Errorf("finding the default image (ECR repository %s; push one with `mlship sagemaker build-and-push-container` or give an image URL): %w",
			DefaultImageRepository, err)
	}
	if len(out.Repositories) == 0 {
		return "", fmt.Errorf("ECR has no repository %s", DefaultImageRepository)
	}
	return aws.ToString(out.Repositories[0].RepositoryUri) + ":" + c.tag, nil
}

// resources resolves the image, execution role and bucket of a deployment
// in MLflow's order, each only when not given.
func (c *Client) resources(ctx context.Context, s *session, image, role, bucket *string) error {
	var err error
	if *image == "" {
		if *image, err = c.DefaultImageURL(ctx); err != nil {
			return err
		}
	}
	if *role == "" {
		if *role, err = executionRole(ctx, s); err != nil {
			return err
		}
	}
	if *bucket == "" {
		c.log.Info("no model data bucket given: using the default bucket")
		if *bucket, err = c.defaultBucket(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// modelExists asks DescribeModel; SageMaker's "Could not find model" is
// false.
func modelExists(ctx context.Context, s *session, name string) (bool, error) {
	_, err := s.sm.DescribeModel(ctx, &sm.DescribeModelInput{ModelName: aws.String(name)})
	var apiErr smithy.APIError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &apiErr) && strings.Contains(apiErr.ErrorMessage(), "Could not find model"):
		return false, nil
	}
	return false, fmt.Errorf("describing model %s: %w", name, err)
}
