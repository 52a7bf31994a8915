package sagemaker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// uploadModel archives dir and stores it as s3://bucket/<prefix>/model.tar.gz,
// tagged SageMaker=true (MLflow's _upload_s3), and returns that URL.
func (c *Client) uploadModel(ctx context.Context, s *session, dir, bucket, prefix string) (string, error) {
	f, err := os.CreateTemp("", "mlship-model-*.tar.gz")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if err := WriteModelTarball(f, dir); err != nil {
		return "", err
	}
	size, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return "", err
	}
	key := path.Join(prefix, "model.tar.gz")
	c.log.Info("uploading the model", "dir", dir, "bucket", bucket, "key", key, "bytes", size)
	if err := c.putFile(ctx, s.s3, f, size, bucket, key); err != nil {
		return "", fmt.Errorf("uploading the model to s3://%s/%s: %w", bucket, key, err)
	}
	_, err = s.s3.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{
		Bucket: aws.String(bucket),
		Key:    aws.String(key),
		Tagging: &s3types.Tagging{TagSet: []s3types.Tag{
			{Key: aws.String("SageMaker"), Value: aws.String("true")},
		}},
	})
	if err != nil {
		return "", fmt.Errorf("tagging s3://%s/%s: %w", bucket, key, err)
	}
	return "s3://" + bucket + "/" + key, nil
}

// putFile uploads f (size bytes) in one PutObject, or in parts when it is
// larger than one part.
func (c *Client) putFile(ctx context.Context, cl *s3.Client, f *os.File, size int64, bucket, key string) error {
	if size <= c.partSize {
		_, err := cl.PutObject(ctx, &s3.PutObjectInput{
			Bucket:        aws.String(bucket),
			Key:           aws.String(key),
			Body:          io.NewSectionReader(f, 0, size),
			ContentLength: aws.Int64(size),
		})
		return err
	}
	up, err := cl.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: aws.String(bucket),
		Key:    aws.String(key),
	})
	if err != nil {
		return err
	}
	var parts []s3types.CompletedPart
	for off, n := int64(0), int32(1); off < size; off, n = off+c.partSize, n+1 {
		length := min(c.partSize, size-off)
		out, err := cl.UploadPart(ctx, &s3.UploadPartInput{
			Bucket:        aws.String(bucket),
			Key:           aws.String(key),
			UploadId:      up.UploadId,
			PartNumber:    aws.Int32(n),
			Body:          io.NewSectionReader(f, off, length),
			ContentLength: aws.Int64(length),
		})
		if err != nil {
			// Do not leave parts behind to be billed; report the upload's
			// error, not the abort's.
			_, abortErr := cl.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{
				Bucket: aws.String(bucket), Key: aws.String(key), UploadId: up.UploadId,
			})
			return errors.Join(fmt.Errorf("part %d: %w", n, err), abortErr)
		}
		parts = append(parts, s3types.CompletedPart{
			ETag:           out.ETag,
			PartNumber:     aws.Int32(n),
			ChecksumCRC32:  out.ChecksumCRC32,
			ChecksumCRC32C: out.ChecksumCRC32C,
			ChecksumSHA1:   out.ChecksumSHA1,
			ChecksumSHA256: out.ChecksumSHA256,
		})
	}
	_, err = cl.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(bucket),
		Key:             aws.String(key),
		UploadId:        up.UploadId,
		MultipartUpload: &s3types.CompletedMultipartUpload{Parts: parts},
	})
	return err
}

// parseS3URL splits s3://bucket/key.
func parseS3URL(s string) (bucket, key string, err error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", "", err
	}
	if u.Scheme != "s3" || u.Host == "" {
		return "", "", fmt.Errorf("%q is not an s3://bucket/key URL", s)
	}
	return u.Host, strings.TrimPrefix(u.Path, "/"), nil
}

// defaultBucket is mlflow-sagemaker-<region>-<account>, created when the
// account has no bucket of that name (MLflow's _get_default_s3_bucket).
func (c *Client) defaultBucket(ctx context.Context, s *session) (string, error) {
	id, err := s.sts.GetCallerIdentity(ctx, nil)
	if err != nil {
		return "", fmt.Errorf("finding the AWS account: %w", err)
	}
	bucket := fmt.Sprintf("%s-%s-%s", DefaultBucketPrefix, c.region, aws.ToString(id.Account))
	exists := false
	in := &s3.ListBucketsInput{}
	for !exists {
		out, err := s.s3.ListBuckets(ctx, in)
		if err != nil {
			return "", fmt.Errorf("listing S3 buckets: %w", err)
		}
		for _, b := range out.Buckets {
			exists = exists || aws.ToString(b.Name) == bucket
		}
		if aws.ToString(out.ContinuationToken) == "" {
			break
		}
		in.ContinuationToken = out.ContinuationToken
	}
	if exists {
		c.log.Info("default bucket exists", "bucket", bucket)
		return bucket, nil
	}
	c.log.Info("default bucket not found: creating it", "bucket", bucket)
	create := &s3.CreateBucketInput{
		Bucket: aws.String(bucket),
		// MLflow's ACL: the one canned ACL buckets with ACLs
		// disabled (the default since 2023) still accept.
		ACL: s3types.BucketCannedACL("bucket-owner-full-control"),
	}
	if c.region != "us-east-1" {
		// Required outside us-east-1, refused in it.
		create.CreateBucketConfiguration = &s3types.CreateBucketConfiguration{
			LocationConstraint: s3types.BucketLocationConstraint(c.region),
		}
	}
	if _, err := s.s3.CreateBucket(ctx, create); err != nil {
		return "", fmt.Errorf("creating bucket %s: %w", bucket, err)
	}
	return bucket, nil
}
