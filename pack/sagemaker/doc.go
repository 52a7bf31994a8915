// Package sagemaker deploys MLflow model directories to Amazon SageMaker the
// way MLflow's mlflow.sagemaker module does, call for call: the model
// directory goes to S3 as model.tar.gz, a SageMaker model points an image
// (one that runs `mlship serve` under SageMaker's container contract) at it,
// and an endpoint configuration and endpoint put it in service; existing
// endpoints are updated in MLflow's replace or add modes, and replaced
// resources are cleaned up. It also runs batch transform jobs and pushes
// images to Amazon ECR.
//
// Everything goes through aws-sdk-go-v2. Options.EndpointURL points every
// service client at one endpoint, so the package runs against emulators
// such as moto. Credentials come from Options.Credentials or the SDK's
// default chain (environment, shared config, SSO, instance roles).
//
// The package does not read flags or mlship's environment: the CLI passes
// values in (see internal/cli/sagemaker.go). docs/sagemaker.md lists the
// call sequence of every operation and where mlship differs from MLflow.
package sagemaker
