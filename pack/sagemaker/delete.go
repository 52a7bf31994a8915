package sagemaker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
)

// DeleteConfig is one deletion of an endpoint.
type DeleteConfig struct {
	AppName string
	// Archive keeps the endpoint's configuration and models (and their
	// data in S3).
	Archive bool
	// Async returns once SageMaker accepted the deletion; it requires
	// Archive.
	Async   bool
	Timeout time.Duration // default DefaultDeleteTimeout
}

// Delete deletes an endpoint (MLflow's _delete): DescribeEndpoint,
// DeleteEndpoint, then unless Async ListEndpoints until it is gone, and
// unless Archive DescribeEndpointConfig, DeleteEndpointConfig and, for each
// production variant, DescribeModel, S3 DeleteObject of its data and
// DeleteModel.
func (c *Client) Delete(ctx context.Context, cfg DeleteConfig) error {
	if cfg.AppName == "" {
		return errors.New("an application (endpoint) name is required")
	}
	if err := checkAsync("a deletion", cfg.Async, cfg.Archive); err != nil {
		return err
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultDeleteTimeout
	}
	s, err := c.session(ctx)
	if err != nil {
		return err
	}
	ep, err := s.sm.DescribeEndpoint(ctx, &sm.DescribeEndpointInput{EndpointName: aws.String(cfg.AppName)})
	if err != nil {
		return fmt.Errorf("describing endpoint %s: %w", cfg.AppName, err)
	}
	if _, err := s.sm.DeleteEndpoint(ctx, &sm.DeleteEndpointInput{EndpointName: aws.String(cfg.AppName)}); err != nil {
		return fmt.Errorf("deleting endpoint %s: %w", cfg.AppName, err)
	}
	c.log.Info("deleted endpoint", "arn", aws.ToString(ep.EndpointArn))
	check := func(ctx context.Context) (status, error) {
		found, err := findEndpoint(ctx, s, cfg.AppName)
		if err != nil {
			return status{}, err
		}
		if found != nil {
			return progress(fmt.Sprintf("Deletion is still in progress. Current endpoint status: %s", found.EndpointStatus)), nil
		}
		return success("The SageMaker endpoint was deleted successfully."), nil
	}
	cleanup := func(ctx context.Context) error {
		name := aws.ToString(ep.EndpointConfigName)
		conf, err := s.sm.DescribeEndpointConfig(ctx, &sm.DescribeEndpointConfigInput{EndpointConfigName: aws.String(name)})
		if err != nil {
			return fmt.Errorf("describing endpoint configuration %s: %w", name, err)
		}
		if _, err := s.sm.DeleteEndpointConfig(ctx, &sm.DeleteEndpointConfigInput{EndpointConfigName: aws.String(name)}); err != nil {
			return fmt.Errorf("deleting endpoint configuration %s: %w", name, err)
		}
		c.log.Info("deleted the endpoint configuration", "arn", aws.ToString(conf.EndpointConfigArn))
		for _, v := range conf.ProductionVariants {
			arn, err := deleteModel(ctx, s, aws.ToString(v.ModelName))
			if err != nil {
				return err
			}
			c.log.Info("deleted model", "arn", arn)
		}
		return nil
	}
	return c.finish(ctx, "deletion", cfg.Async, cfg.Archive, cfg.Timeout, check, cleanup)
}
