package sagemaker_test

import (
	"context"
	"fmt"
	"log"

	"github.com/mlship/mlship/mlmodel"
	"github.com/mlship/mlship/pack/sagemaker"
)

// Deploy a model directory as the endpoint "iris" in eu-west-1, or point
// an existing "iris" at it alone, waiting until it is in service.
func ExampleClient_Deploy() {
	ctx := context.Background()
	m, err := mlmodel.Load("./model")
	if err != nil {
		log.Fatal(err)
	}
	c, err := sagemaker.New(ctx, sagemaker.Options{Region: "eu-west-1"})
	if err != nil {
		log.Fatal(err)
	}
	d, err := c.Deploy(ctx, sagemaker.DeployConfig{
		AppName:          "iris",
		Model:            m,
		Mode:             sagemaker.ModeReplace,
		ExecutionRoleARN: "arn:aws:iam::123456789012:role/sagemaker-exec",
		ImageURL:         "123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlship:0.1.0",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(d.AppName, "serves", d.ModelName, "from", d.ModelDataURL)
}
