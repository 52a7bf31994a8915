package artifacts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/mlship/mlship/tracking"
)

// S3 part sizes. An upload is read one part at a time into a reused
// buffer: a file that fits in one part is one PutObject, a larger one a
// multipart upload, so memory stays at one part whatever the file's size
// (S3 needs each part's length before sending it, and parts other than the
// last must be at least 5 MiB).
const (
	DefaultPartSize  = 8 << 20
	minPartSize      = 5 << 20
	maxPartSize      = 5 << 30
	partsPerDoubling = 1000
)

// S3 is an artifact root under a prefix of an S3 bucket. Directories are
// key prefixes ending in "/", as in MLflow's S3ArtifactRepository.
type S3 struct {
	client   *s3.Client
	bucket   string
	prefix   string // clean, without leading or trailing "/"; "" is the bucket
	partSize int
}

var _ Repository = (*S3)(nil)

// S3Option configures an S3 repository.
type S3Option func(*S3)

// WithPartSize sets the upload part size (at least 5 MiB; smaller values
// are raised to it).
func WithPartSize(n int) S3Option {
	return func(s *S3) { s.partSize = max(n, minPartSize) }
}

// NewS3 returns the repository at s3://bucket/prefix. cfg carries region,
// credentials and, for S3-compatible stores such as MinIO or moto
// (MLFLOW_S3_ENDPOINT_URL), a BaseEndpoint, which also selects path-style
// addressing. It makes no AWS calls.
func NewS3(ctx context.Context, bucket, prefix string, cfg aws.Config, opts ...S3Option) (*S3, error) {
	if bucket == "" {
		return nil, errors.New("s3 artifact root: no bucket")
	}
	clean, err := CleanPath(strings.Trim(prefix, "/"))
	if err != nil {
		return nil, fmt.Errorf("s3 artifact root s3://%s/%s: %w", bucket, prefix, err)
	}
	pathStyle := cfg.BaseEndpoint != nil && *cfg.BaseEndpoint != ""
	s := &S3{
		client: s3.NewFromConfig(cfg, func(o *s3.Options) {
			o.UsePathStyle = o.UsePathStyle || pathStyle
		}),
		bucket:   bucket,
		prefix:   clean,
		partSize: DefaultPartSize,
	}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// LoadAWSConfig loads the SDK's default configuration (AWS_* environment,
// shared config files, instance roles) and points it at endpointURL when
// one is given — the value of MLFLOW_S3_ENDPOINT_URL, which the caller
// reads. It suits Options.AWSConfig.
func LoadAWSConfig(endpointURL string) func(context.Context) (aws.Config, error) {
	return func(ctx context.Context) (aws.Config, error) {
		var load []func(*config.LoadOptions) error
		if endpointURL != "" {
			load = append(load, config.WithBaseEndpoint(endpointURL))
		}
		cfg, err := config.LoadDefaultConfig(ctx, load...)
		if err != nil {
			return aws.Config{}, fmt.Errorf("loading AWS configuration: %w", err)
		}
		if cfg.Region == "" {
			cfg.Region = "us-east-1" // as boto3 for S3 without a region
		}
		return cfg, nil
	}
}

// URI is the repository's s3:// address.
func (s *S3) URI() string { return "s3://" + join(s.bucket, s.prefix) }

func (s *S3) key(p string) string { return join(s.prefix, p) }

// Put uploads r to path.
func (s *S3) Put(ctx context.Context, p string, r io.Reader) error {
	p, err := CleanPath(p)
	if err != nil {
		return err
	}
	if p == "" {
		return tracking.Errorf(tracking.InvalidParameterValue, "Invalid path: an artifact needs a file name")
	}
	key := s.key(p)
	buf := make([]byte, s.partSize)
	n, err := io.ReadFull(r, buf)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		_, err = s.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket:        aws.String(s.bucket),
			Key:           aws.String(key),
			Body:          bytes.NewReader(buf[:n]),
			ContentLength: aws.Int64(int64(n)),
		})
		if err != nil {
			return fmt.Errorf("putting %s: %w", s.describe(key), err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("putting %s: %w", s.describe(key), err)
	}
	return s.putMultipart(ctx, key, r, buf)
}

// putMultipart uploads buf (a full first part) and the rest of r in parts.
// On any failure the upload is aborted, so no object appears.
func (s *S3) putMultipart(ctx context.Context, key string, r io.Reader, buf []byte) (err error) {
	up, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(key),
	})
	if err != nil {
		return fmt.Errorf("putting %s: %w", s.describe(key), err)
	}
	defer func() {
		if err != nil {
			// Aborting must happen even when ctx is what ended the upload.
			_, _ = s.client.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{
				Bucket: aws.String(s.bucket), Key: aws.String(key), UploadId: up.UploadId,
			})
			err = fmt.Errorf("putting %s: %w", s.describe(key), err)
		}
	}()
	var parts []s3types.CompletedPart
	n := len(buf)
	for num := int32(1); ; num++ {
		out, err := s.client.UploadPart(ctx, &s3.UploadPartInput{
			Bucket:        aws.String(s.bucket),
			Key:           aws.String(key),
			UploadId:      up.UploadId,
			PartNumber:    aws.Int32(num),
			Body:          bytes.NewReader(buf[:n]),
			ContentLength: aws.Int64(int64(n)),
		})
		if err != nil {
			return fmt.Errorf("part %d: %w", num, err)
		}
		parts = append(parts, s3types.CompletedPart{
			ETag: out.ETag, PartNumber: aws.Int32(num),
			ChecksumCRC32: out.ChecksumCRC32, ChecksumCRC32C: out.ChecksumCRC32C,
			ChecksumCRC64NVME: out.ChecksumCRC64NVME,
			ChecksumSHA1:      out.ChecksumSHA1, ChecksumSHA256: out.ChecksumSHA256,
		})
		if num%partsPerDoubling == 0 && len(buf) < maxPartSize {
			// S3 allows 10,000 parts: doubling the part size every 1,000
			// keeps any object up to S3's 5 TiB limit within them, while
			// ordinary files never leave the first size.
			buf = make([]byte, min(2*len(buf), maxPartSize))
		}
		var rerr error
		n, rerr = io.ReadFull(r, buf)
		if rerr == io.EOF {
			break
		}
		if rerr != nil && rerr != io.ErrUnexpectedEOF {
			return rerr
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(s.bucket),
		Key:             aws.String(key),
		UploadId:        up.UploadId,
		MultipartUpload: &s3types.CompletedMultipartUpload{Parts: parts},
	})
	return err
}

// Open streams the object at path.
func (s *S3) Open(ctx context.Context, p string) (io.ReadCloser, error) {
	p, err := CleanPath(p)
	if err != nil {
		return nil, err
	}
	if p == "" {
		return nil, notFound(p)
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.key(p)),
	})
	if err != nil {
		if isS3NotFound(err) {
			return nil, notFound(p)
		}
		return nil, fmt.Errorf("opening %s: %w", s.describe(s.key(p)), err)
	}
	return out.Body, nil
}

// List returns the direct children of dir: objects as files, common
// prefixes as directories.
func (s *S3) List(ctx context.Context, dir string) ([]FileInfo, error) {
	dir, err := CleanPath(dir)
	if err != nil {
		return nil, err
	}
	prefix := s.key(dir)
	if prefix != "" {
		prefix += "/"
	}
	var out []FileInfo
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket:    aws.String(s.bucket),
		Prefix:    aws.String(prefix),
		Delimiter: aws.String("/"),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", s.describe(prefix), err)
		}
		for _, cp := range page.CommonPrefixes {
			name := strings.TrimSuffix(strings.TrimPrefix(aws.ToString(cp.Prefix), prefix), "/")
			if name == "" {
				continue
			}
			out = append(out, FileInfo{Path: join(dir, name), IsDir: true})
		}
		for _, o := range page.Contents {
			name := strings.TrimPrefix(aws.ToString(o.Key), prefix)
			if name == "" { // a "directory marker" object
				continue
			}
			out = append(out, FileInfo{Path: join(dir, name), Size: aws.ToInt64(o.Size)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// Delete removes the object at path and every object under path + "/"
// ("" empties the repository's prefix).
func (s *S3) Delete(ctx context.Context, p string) error {
	p, err := CleanPath(p)
	if err != nil {
		return err
	}
	var keys []string
	if p != "" || s.prefix != "" {
		keys = append(keys, s.key(p)) // the object itself, if any
	}
	prefix := s.key(p)
	if prefix != "" {
		prefix += "/"
	}
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(s.bucket),
		Prefix: aws.String(prefix),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("deleting %s: %w", s.describe(prefix), err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	for len(keys) > 0 {
		batch := keys[:min(len(keys), 1000)] // DeleteObjects' limit
		keys = keys[len(batch):]
		ids := make([]s3types.ObjectIdentifier, len(batch))
		for i, k := range batch {
			ids[i] = s3types.ObjectIdentifier{Key: aws.String(k)}
		}
		out, err := s.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: aws.String(s.bucket),
			Delete: &s3types.Delete{Objects: ids, Quiet: aws.Bool(true)},
		})
		if err != nil {
			return fmt.Errorf("deleting %s: %w", s.describe(s.key(p)), err)
		}
		for _, e := range out.Errors {
			if aws.ToString(e.Code) == "NoSuchKey" {
				continue
			}
			return fmt.Errorf("deleting s3://%s/%s: %s: %s", s.bucket, aws.ToString(e.Key),
				aws.ToString(e.Code), aws.ToString(e.Message))
		}
	}
	return nil
}

func (s *S3) describe(key string) string { return "s3://" + s.bucket + "/" + key }

func isS3NotFound(err error) bool {
	var nsk *s3types.NoSuchKey
	var nf *s3types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return true
	}
	var ae smithy.APIError
	return errors.As(err, &ae) && (ae.ErrorCode() == "NoSuchKey" || ae.ErrorCode() == "NotFound")
}
