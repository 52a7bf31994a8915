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

// TransformConfig is one batch transform job. Zero values take MLflow's
// defaults.
type TransformConfig struct {
	JobName string
	// Model is the model directory's descriptor; its Dir is archived.
	Model *mlmodel.Model
	// ModelURI is recorded in the SageMaker model's model_uri tag
	// (default Model.Dir).
	ModelURI string
	Flavor   string // default python_function

	// InputDataType is the S3DataType of the input (S3Prefix,
	// ManifestFile, ...), InputURI its S3 URI, ContentType its MIME type.
	InputDataType string
	InputURI      string
	ContentType   string
	// OutputPath is the S3 path of the results.
	OutputPath      string
	CompressionType string // default "None"
	SplitType       string // default "Line"
	Accept          string // default "text/csv"
	AssembleWith    string // default "Line"
	InputFilter     string // default "$"
	OutputFilter    string // default "$"
	JoinResource    string // default "None"

	ExecutionRoleARN string
	Bucket           string
	ImageURL         string
	InstanceType     string // default DefaultInstanceType
	InstanceCount    int32  // default DefaultInstanceCount
	VpcConfig        *types.VpcConfig
	// Archive keeps the SageMaker model and its data once the job is done.
	Archive bool
	// Async returns once the job is created; it requires Archive.
	Async   bool
	Timeout time.Duration // default DefaultTimeout
}

// TransformJob is what DeployTransformJob created.
type TransformJob struct {
	JobName          string
	Flavor           string
	ModelName        string
	ModelDataURL     string
	ImageURL         string
	ExecutionRoleARN string
	Bucket           string
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// DeployTransformJob runs a batch transform job (MLflow's
// deploy_transform_job): AssumeRole when set; ListTransformJobs
// (NameContains) until the job is found (an existing job is an error);
// the image, role and bucket as Deploy resolves them; the model tarball to
// S3; CreateModel; CreateTransformJob tagged model_name; then unless Async
// DescribeTransformJob until Completed and, unless Archive,
// DescribeTransformJob and the model's deletion (DescribeModel, S3
// DeleteObject, DeleteModel).
func (c *Client) DeployTransformJob(ctx context.Context, cfg TransformConfig) (*TransformJob, error) {
	if cfg.JobName == "" {
		return nil, errors.New("a transform job name is required")
	}
	if cfg.Model == nil || cfg.Model.Dir == "" {
		return nil, errors.New("a model directory is required")
	}
	if cfg.InputDataType == "" || cfg.InputURI == "" || cfg.ContentType == "" || cfg.OutputPath == "" {
		return nil, errors.New("a transform job needs an input data type, input URI, content type and output path")
	}
	if err := checkAsync("a batch transform job", cfg.Async, cfg.Archive); err != nil {
		return nil, err
	}
	if cfg.InstanceCount == 0 {
		cfg.InstanceCount = DefaultInstanceCount
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	flavor, err := deploymentFlavor(cfg.Model, cfg.Flavor)
	if err != nil {
		return nil, err
	}
	s, err := c.session(ctx)
	if err != nil {
		return nil, err
	}
	existing, err := findTransformJob(ctx, s, cfg.JobName)
	if err != nil {
		return nil, err
	}
	if existing != nil {
		return nil, fmt.Errorf("batch transform job %s %w", cfg.JobName, ErrExists)
	}
	j := &TransformJob{
		JobName:          cfg.JobName,
		Flavor:           flavor,
		ModelName:        modelName(cfg.JobName),
		ImageURL:         cfg.ImageURL,
		ExecutionRoleARN: cfg.ExecutionRoleARN,
		Bucket:           cfg.Bucket,
	}
	if err := c.resources(ctx, s, &j.ImageURL, &j.ExecutionRoleARN, &j.Bucket); err != nil {
		return nil, err
	}
	if j.ModelDataURL, err = c.uploadModel(ctx, s, cfg.Model.Dir, j.Bucket, j.ModelName); err != nil {
		return nil, err
	}
	c.log.Info("creating a new batch transform job", "job", cfg.JobName)
	model, err := createModel(ctx, s, modelSpec{
		name: j.ModelName, dataURL: j.ModelDataURL, modelURI: orDefault(cfg.ModelURI, cfg.Model.Dir),
		image: j.ImageURL, role: j.ExecutionRoleARN, flavor: flavor, vpc: cfg.VpcConfig,
	})
	if err != nil {
		return nil, err
	}
	c.log.Info("created model", "arn", aws.ToString(model.ModelArn))
	out, err := s.sm.CreateTransformJob(ctx, &sm.CreateTransformJobInput{
		TransformJobName: aws.String(cfg.JobName),
		ModelName:        aws.String(j.ModelName),
		TransformInput: &types.TransformInput{
			DataSource: &types.TransformDataSource{S3DataSource: &types.TransformS3DataSource{
				S3DataType: types.S3DataType(cfg.InputDataType),
				S3Uri:      aws.String(cfg.InputURI),
			}},
			ContentType:     aws.String(cfg.ContentType),
			CompressionType: types.CompressionType(orDefault(cfg.CompressionType, "None")),
			SplitType:       types.SplitType(orDefault(cfg.SplitType, "Line")),
		},
		TransformOutput: &types.TransformOutput{
			S3OutputPath: aws.String(cfg.OutputPath),
			Accept:       aws.String(orDefault(cfg.Accept, "text/csv")),
			AssembleWith: types.AssemblyType(orDefault(cfg.AssembleWith, "Line")),
		},
		TransformResources: &types.TransformResources{
			InstanceType:  types.TransformInstanceType(orDefault(cfg.InstanceType, DefaultInstanceType)),
			InstanceCount: aws.Int32(cfg.InstanceCount),
		},
		DataProcessing: &types.DataProcessing{
			InputFilter:  aws.String(orDefault(cfg.InputFilter, "$")),
			OutputFilter: aws.String(orDefault(cfg.OutputFilter, "$")),
			JoinSource:   types.JoinSource(orDefault(cfg.JoinResource, "None")),
		},
		Tags: tagList(map[string]string{"model_name": j.ModelName}),
	})
	if err != nil {
		return nil, fmt.Errorf("creating batch transform job %s: %w", cfg.JobName, err)
	}
	c.log.Info("created batch transform job", "arn", aws.ToString(out.TransformJobArn))
	check := func(ctx context.Context) (status, error) {
		info, err := s.sm.DescribeTransformJob(ctx, &sm.DescribeTransformJobInput{TransformJobName: aws.String(cfg.JobName)})
		if err != nil {
			return status{}, fmt.Errorf("describing batch transform job %s: %w", cfg.JobName, err)
		}
		switch info.TransformJobStatus {
		case types.TransformJobStatusInProgress:
			return progress(fmt.Sprintf("Waiting for batch transform job to reach the \"Completed\" state. Current batch transform job status: %q", info.TransformJobStatus)), nil
		case types.TransformJobStatusCompleted:
			return success("The SageMaker batch transform job was processed successfully."), nil
		}
		return failure(orDefault(aws.ToString(info.FailureReason), unknownFailure)), nil
	}
	cleanup := func(ctx context.Context) error {
		info, err := s.sm.DescribeTransformJob(ctx, &sm.DescribeTransformJobInput{TransformJobName: aws.String(cfg.JobName)})
		if err != nil {
			return fmt.Errorf("describing batch transform job %s: %w", cfg.JobName, err)
		}
		arn, err := deleteModel(ctx, s, aws.ToString(info.ModelName))
		if err != nil {
			return err
		}
		c.log.Info("deleted model", "arn", arn)
		return nil
	}
	return j, c.finish(ctx, "batch transform job", cfg.Async, cfg.Archive, cfg.Timeout, check, cleanup)
}

// TerminateConfig is one stop of a batch transform job.
type TerminateConfig struct {
	JobName string
	// Archive keeps the job's SageMaker model and its data.
	Archive bool
	// Async returns once SageMaker accepted the stop; it requires Archive.
	Async   bool
	Timeout time.Duration // default DefaultDeleteTimeout
}

// TerminateTransformJob stops a batch transform job (MLflow's
// terminate_transform_job): DescribeTransformJob, StopTransformJob, then
// unless Async ListTransformJobs until it is Stopped and, unless Archive,
// the model's deletion. A job that ends otherwise than Stopped (it
// completed or failed first) is an *OperationError.
func (c *Client) TerminateTransformJob(ctx context.Context, cfg TerminateConfig) error {
	if cfg.JobName == "" {
		return errors.New("a transform job name is required")
	}
	if err := checkAsync("a termination", cfg.Async, cfg.Archive); err != nil {
		return err
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultDeleteTimeout
	}
	s, err := c.session(ctx)
	if err != nil {
		return err
	}
	info, err := s.sm.DescribeTransformJob(ctx, &sm.DescribeTransformJobInput{TransformJobName: aws.String(cfg.JobName)})
	if err != nil {
		return fmt.Errorf("describing batch transform job %s: %w", cfg.JobName, err)
	}
	if _, err := s.sm.StopTransformJob(ctx, &sm.StopTransformJobInput{TransformJobName: aws.String(cfg.JobName)}); err != nil {
		return fmt.Errorf("stopping batch transform job %s: %w", cfg.JobName, err)
	}
	c.log.Info("terminated batch transform job", "arn", aws.ToString(info.TransformJobArn))
	check := func(ctx context.Context) (status, error) {
		job, err := findTransformJob(ctx, s, cfg.JobName)
		if err != nil {
			return status{}, err
		}
		if job == nil {
			return status{}, fmt.Errorf("batch transform job %s is no longer listed", cfg.JobName)
		}
		switch job.TransformJobStatus {
		case types.TransformJobStatusStopping, types.TransformJobStatusInProgress:
			return progress(fmt.Sprintf("Termination is still in progress. Current batch transform job status: %s", job.TransformJobStatus)), nil
		case types.TransformJobStatusStopped:
			return success("The SageMaker batch transform job was terminated successfully."), nil
		}
		return failure(fmt.Sprintf("The batch transform job ended with status %s before it could be stopped.", job.TransformJobStatus)), nil
	}
	cleanup := func(ctx context.Context) error {
		arn, err := deleteModel(ctx, s, aws.ToString(info.ModelName))
		if err != nil {
			return err
		}
		c.log.Info("deleted model", "arn", arn)
		return nil
	}
	return c.finish(ctx, "termination", cfg.Async, cfg.Archive, cfg.Timeout, check, cleanup)
}

// findTransformJob pages through ListTransformJobs(NameContains=name) for
// the job named name, nil when there is none.
func findTransformJob(ctx context.Context, s *session, name string) (*types.TransformJobSummary, error) {
	in := &sm.ListTransformJobsInput{NameContains: aws.String(name), MaxResults: aws.Int32(100)}
	for {
		out, err := s.sm.ListTransformJobs(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("listing batch transform jobs: %w", err)
		}
		for i := range out.TransformJobSummaries {
			if aws.ToString(out.TransformJobSummaries[i].TransformJobName) == name {
				return &out.TransformJobSummaries[i], nil
			}
		}
		if aws.ToString(out.NextToken) == "" {
			return nil, nil
		}
		in.NextToken = out.NextToken
	}
}
