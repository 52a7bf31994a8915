package sagemaker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// Defaults, as MLflow's.
const (
	DefaultRegion        = "us-west-2"
	DefaultInstanceType  = "ml.m4.xlarge"
	DefaultInstanceCount = 1
	DefaultTimeout       = 1200 * time.Second
	// DefaultDeleteTimeout is the wait of Delete and TerminateTransformJob
	// (MLflow's Python default; its CLI passes --timeout).
	DefaultDeleteTimeout = 300 * time.Second
	// DefaultPollInterval is how often a synchronous operation asks for
	// its status; a progress line is logged every fourth poll.
	DefaultPollInterval = 5 * time.Second
	// DefaultUpdateGrace is how long an endpoint update counts as in
	// progress before its status is read at all, so a slow start is not
	// mistaken for a rollback.
	DefaultUpdateGrace = 20 * time.Second
	// DefaultImageRepository is the ECR repository build-and-push-container
	// pushes to and deploy takes its image from when none is given (MLflow's
	// is mlflow-pyfunc).
	DefaultImageRepository = "mlship"
	// DefaultBucketPrefix starts the default bucket's name,
	// <prefix>-<region>-<account>.
	DefaultBucketPrefix = "mlflow-sagemaker"
	// AssumeRoleSessionName is the STS session name of --assume-role-arn.
	AssumeRoleSessionName = "mlflow-sagemaker"
)

// Options configure a Client. The zero value uses the SDK's default
// credential chain in DefaultRegion with MLflow's timings.
type Options struct {
	// Region is the AWS region (default DefaultRegion).
	Region string
	// EndpointURL, when set, is the endpoint of every AWS service client
	// (STS, IAM, S3, ECR, SageMaker): an emulator such as moto. S3 then
	// uses path-style addressing.
	EndpointURL string
	// AssumeRoleARN is a role every operation first assumes (STS
	// AssumeRole, session AssumeRoleSessionName) to act in another account.
	AssumeRoleARN string
	// Credentials replace the SDK's default credential chain.
	Credentials aws.CredentialsProvider
	// HTTPClient carries every request (default: the SDK's).
	HTTPClient *http.Client
	// Logger receives progress (default: discarded).
	Logger *slog.Logger
	// ImageTag is the tag of the default image, <account>.dkr.ecr.<region>.amazonaws.com/
	// DefaultImageRepository:<ImageTag>, and of pushed images when
	// PushConfig.Tag is empty: mlship's version (default "latest").
	ImageTag string
	// PollInterval and UpdateGrace override DefaultPollInterval and
	// DefaultUpdateGrace (tests shorten them). A negative UpdateGrace
	// means none.
	PollInterval time.Duration
	UpdateGrace  time.Duration
	// PartSize is the size of S3 multipart upload parts; model tarballs
	// larger than one part are uploaded in parts (default 64 MiB, least
	// 5 MiB).
	PartSize int64
}

// Client deploys models to SageMaker. Its methods may be called
// concurrently.
type Client struct {
	base     aws.Config
	region   string
	endpoint string
	assume   string
	log      *slog.Logger
	tag      string
	poll     time.Duration
	grace    time.Duration
	partSize int64
}

// New loads the AWS configuration (credentials from opts or the default
// chain) and returns a Client. It makes no AWS calls.
func New(ctx context.Context, opts Options) (*Client, error) {
	region := opts.Region
	if region == "" {
		region = DefaultRegion
	}
	load := []func(*config.LoadOptions) error{config.WithRegion(region)}
	if opts.Credentials != nil {
		load = append(load, config.WithCredentialsProvider(opts.Credentials))
	}
	if opts.HTTPClient != nil {
		load = append(load, config.WithHTTPClient(opts.HTTPClient))
	}
	if opts.EndpointURL != "" {
		load = append(load, config.WithBaseEndpoint(opts.EndpointURL))
	}
	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration: %w", err)
	}
	c := &Client{
		base:     cfg,
		region:   region,
		endpoint: opts.EndpointURL,
		assume:   opts.AssumeRoleARN,
		log:      opts.Logger,
		tag:      opts.ImageTag,
		poll:     opts.PollInterval,
		grace:    opts.UpdateGrace,
		partSize: opts.PartSize,
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.tag == "" {
		c.tag = "latest"
	}
	if c.poll <= 0 {
		c.poll = DefaultPollInterval
	}
	switch {
	case c.grace == 0:
		c.grace = DefaultUpdateGrace
	case c.grace < 0:
		c.grace = 0
	}
	if c.partSize == 0 {
		c.partSize = 64 << 20
	}
	if c.partSize < 5<<20 {
		return nil, errors.New("S3 multipart parts must be at least 5 MiB")
	}
	return c, nil
}

// Region is the region the client works in.
func (c *Client) Region() string { return c.region }

// session holds the service clients of one operation, signed with the
// assumed role's credentials when there is one (as MLflow builds boto3
// clients per call).
type session struct {
	cfg aws.Config
	sm  *sm.Client
	s3  *s3.Client
	sts *sts.Client
	iam *iam.Client
}

// session assumes Options.AssumeRoleARN, when set, and builds the clients.
func (c *Client) session(ctx context.Context) (*session, error) {
	cfg := c.base.Copy()
	if c.assume != "" {
		out, err := sts.NewFromConfig(c.base).AssumeRole(ctx, &sts.AssumeRoleInput{
			RoleArn:         aws.String(c.assume),
			RoleSessionName: aws.String(AssumeRoleSessionName),
		})
		if err != nil {
			return nil, fmt.Errorf("assuming role %s: %w", c.assume, err)
		}
		cr := out.Credentials
		if cr == nil {
			return nil, fmt.Errorf("assuming role %s: no credentials in the response", c.assume)
		}
		cfg.Credentials = aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(
			aws.ToString(cr.AccessKeyId), aws.ToString(cr.SecretAccessKey), aws.ToString(cr.SessionToken)))
		c.log.Info("assuming role for deployment", "role", c.assume)
	}
	return &session{
		cfg: cfg,
		sm:  sm.NewFromConfig(cfg),
		s3:  c.s3Client(cfg),
		sts: sts.NewFromConfig(cfg),
		iam: iam.NewFromConfig(cfg),
	}, nil
}

func (c *Client) s3Client(cfg aws.Config) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		// Emulators answer on one host: bucket names go in the path.
		o.UsePathStyle = c.endpoint != ""
	})
}

// ecrClient uses the caller's own credentials, never the assumed role's:
// MLflow looks the default image up and pushes images that way.
func (c *Client) ecrClient() *ecr.Client { return ecr.NewFromConfig(c.base) }
