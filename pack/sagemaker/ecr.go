package sagemaker

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// PushConfig says where PushImage puts an image.
type PushConfig struct {
	// Repository is the ECR repository (default DefaultImageRepository),
	// created when missing.
	Repository string
	// Tag defaults to Options.ImageTag.
	Tag string
	// Registry replaces the account's ECR host,
	// <account>.dkr.ecr.<region>.amazonaws.com: a registry standing in for
	// ECR beside an emulator. The ECR credentials are sent to it.
	Registry string
	// Transport carries the registry requests (default
	// remote.DefaultTransport).
	Transport http.RoundTripper
}

// PushImage pushes img to ECR the way MLflow's push_image_to_ecr does, with
// the Docker CLI steps done in-process: STS GetCallerIdentity for the
// account; ECR DescribeRepositories, and CreateRepository on
// RepositoryNotFoundException; GetAuthorizationToken for the registry
// password (what `aws ecr get-login-password | docker login` does); then
// the image's blobs and manifest to
// <account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>. It returns
// the pushed image's digest reference.
func (c *Client) PushImage(ctx context.Context, img v1.Image, cfg PushConfig) (name.Digest, error) {
	repo := orDefault(cfg.Repository, DefaultImageRepository)
	tag := orDefault(cfg.Tag, c.tag)
	id, err := sts.NewFromConfig(c.base).GetCallerIdentity(ctx, nil)
	if err != nil {
		return name.Digest{}, fmt.Errorf("finding the AWS account: %w", err)
	}
	host := cfg.Registry
	if host == "" {
		host = fmt.Sprintf("%s.dkr.ecr.%s.amazonaws.com", aws.ToString(id.Account), c.region)
	}
	ref, err := name.NewTag(host + "/" + repo + ":" + tag)
	if err != nil {
		return name.Digest{}, err
	}
	if err := c.ensureRepository(ctx, repo); err != nil {
		return name.Digest{}, err
	}
	auth, err := c.ecrAuth(ctx)
	if err != nil {
		return name.Digest{}, err
	}
	c.log.Info("pushing the image", "ref", ref.String())
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuth(auth)}
	if cfg.Transport != nil {
		opts = append(opts, remote.WithTransport(cfg.Transport))
	}
	if err := remote.Write(ref, img, opts...); err != nil {
		return name.Digest{}, fmt.Errorf("pushing %s: %w", ref, err)
	}
	digest, err := img.Digest()
	if err != nil {
		return name.Digest{}, err
	}
	return ref.Context().Digest(digest.String()), nil
}

// ensureRepository creates the ECR repository when DescribeRepositories
// does not find it.
func (c *Client) ensureRepository(ctx context.Context, repo string) error {
	cl := c.ecrClient()
	_, err := cl.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{repo}})
	var notFound *ecrtypes.RepositoryNotFoundException
	switch {
	case err == nil:
		return nil
	case !errors.As(err, &notFound):
		return fmt.Errorf("describing ECR repository %s: %w", repo, err)
	}
	if _, err := cl.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(repo)}); err != nil {
		return fmt.Errorf("creating ECR repository %s: %w", repo, err)
	}
	c.log.Info("created ECR repository", "repository", repo)
	return nil
}

// ecrAuth turns GetAuthorizationToken's base64 "AWS:<password>" into
// registry credentials.
func (c *Client) ecrAuth(ctx context.Context) (authn.Authenticator, error) {
	out, err := c.ecrClient().GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		return nil, fmt.Errorf("getting an ECR authorization token: %w", err)
	}
	if len(out.AuthorizationData) == 0 {
		return nil, errors.New("ECR returned no authorization data")
	}
	raw, err := base64.StdEncoding.DecodeString(aws.ToString(out.AuthorizationData[0].AuthorizationToken))
	if err != nil {
		return nil, fmt.Errorf("decoding the ECR authorization token: %w", err)
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok {
		return nil, errors.New("the ECR authorization token is not user:password")
	}
	return &authn.Basic{Username: user, Password: pass}, nil
}
