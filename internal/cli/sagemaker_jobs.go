package cli

import (
	"fmt"
	"os"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/spf13/cobra"

	"github.com/mlship/mlship/pack"
	"github.com/mlship/mlship/pack/sagemaker"
)

type sagemakerTransformOptions struct {
	awsOptions
	modelOptions
	job           string
	inputDataType string
	inputURI      string
	contentType   string
	outputPath    string
	compression   string
	splitType     string
	accept        string
	assembleWith  string
	inputFilter   string
	outputFilter  string
	joinResource  string
	instanceType  string
	instanceCount int
	archive       bool
	async         bool
	timeout       int
}

func newCmdSageMakerTransform(d *deps) *cobra.Command {
	o := &sagemakerTransformOptions{}
	cmd := &cobra.Command{
		Use:   "deploy-transform-job -n JOB -m MODEL --input-data-type TYPE -u S3_URI --content-type MIME -o S3_PATH",
		Short: "Run a model over data in S3 as a SageMaker batch transform job",
		Long: "Upload the model, create a SageMaker model and a batch transform job over the input in S3,\n" +
			"wait until it completes (unless --async) and delete the model (unless --archive).",
		Example: "  mlship sagemaker deploy-transform-job -n score-2024-06 -m ./model --input-data-type S3Prefix \\\n" +
			"    -u s3://bucket/in/ --content-type text/csv -o s3://bucket/out/",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.job == "" {
				return fmt.Errorf("--job-name is required")
			}
			m, vpc, err := o.modelOptions.load()
			if err != nil {
				return err
			}
			c, err := o.awsOptions.client(cmd.Context(), d)
			if err != nil {
				return err
			}
			j, err := c.DeployTransformJob(cmd.Context(), sagemaker.TransformConfig{
				JobName: o.job, Model: m, ModelURI: o.model, Flavor: o.flavor,
				InputDataType: o.inputDataType, InputURI: o.inputURI, ContentType: o.contentType, OutputPath: o.outputPath,
				CompressionType: o.compression, SplitType: o.splitType, Accept: o.accept, AssembleWith: o.assembleWith,
				InputFilter: o.inputFilter, OutputFilter: o.outputFilter, JoinResource: o.joinResource,
				ExecutionRoleARN: o.executionRoleARN, Bucket: o.bucket, ImageURL: o.imageURL,
				InstanceType: o.instanceType, InstanceCount: int32(o.instanceCount), VpcConfig: vpc,
				Archive: o.archive, Async: o.async, Timeout: time.Duration(o.timeout) * time.Second,
			})
			if j != nil {
				state := "completed"
				if o.async {
					state = "started"
				}
				fmt.Fprintf(d.stdout, "job       %s %s in %s\n", j.JobName, state, c.Region())
				fmt.Fprintf(d.stdout, "model     %s (flavor %s)\n", j.ModelName, j.Flavor)
				fmt.Fprintf(d.stdout, "output    %s\n", o.outputPath)
			}
			return err
		},
	}
	fs := cmd.Flags()
	o.awsOptions.AddFlags(fs, d, true)
	o.modelOptions.AddFlags(fs, d)
	fs.StringVarP(&o.job, "job-name", "n", "", "transform job name")
	fs.StringVar(&o.inputDataType, "input-data-type", "", "S3 data type of the input: S3Prefix, ManifestFile, ...")
	fs.StringVarP(&o.inputURI, "input-uri", "u", "", "S3 key prefix or manifest of the input data")
	fs.StringVar(&o.contentType, "content-type", "", "MIME type of the input data")
	fs.StringVarP(&o.outputPath, "output-path", "o", "", "S3 path for the results")
	fs.StringVar(&o.compression, "compression-type", "None", "compression of the input: None or Gzip")
	fs.StringVarP(&o.splitType, "split-type", "s", "Line", "how input files are split into requests: None, Line, RecordIO, TFRecord")
	fs.StringVarP(&o.accept, "accept", "a", "text/csv", "MIME type of the output")
	fs.StringVar(&o.assembleWith, "assemble-with", "Line", "how results are joined into one object per input: None or Line")
	fs.StringVar(&o.inputFilter, "input-filter", "$", "JSONPath selecting the part of each input record sent to the model")
	fs.StringVar(&o.outputFilter, "output-filter", "$", "JSONPath selecting the part of each joined record written")
	fs.StringVarP(&o.joinResource, "join-resource", "j", "None", "join the input to the output: None or Input")
	fs.StringVarP(&o.instanceType, "instance-type", "t", sagemaker.DefaultInstanceType, "SageMaker ML instance type")
	fs.IntVarP(&o.instanceCount, "instance-count", "c", sagemaker.DefaultInstanceCount, "number of instances")
	fs.BoolVar(&o.archive, "archive", false, "keep the SageMaker model and its data after the job (required with --async)")
	fs.BoolVar(&o.async, "async", false, "return once the job is created")
	fs.IntVar(&o.timeout, "timeout", int(sagemaker.DefaultTimeout/time.Second), "seconds to wait for the job")
	for _, f := range []string{"model-uri", "input-data-type", "input-uri", "content-type", "output-path"} {
		_ = cmd.MarkFlagRequired(f)
	}
	return cmd
}

func newCmdSageMakerTerminate(d *deps) *cobra.Command {
	var o awsOptions
	var job string
	var archive, async bool
	var timeout int
	cmd := &cobra.Command{
		Use:   "terminate-transform-job -n JOB",
		Short: "Stop a SageMaker batch transform job and delete its model",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if job == "" {
				return fmt.Errorf("--job-name is required")
			}
			c, err := o.client(cmd.Context(), d)
			if err != nil {
				return err
			}
			err = c.TerminateTransformJob(cmd.Context(), sagemaker.TerminateConfig{
				JobName: job, Archive: archive, Async: async, Timeout: time.Duration(timeout) * time.Second,
			})
			if err == nil {
				fmt.Fprintf(d.stdout, "job       %s stopped in %s\n", job, c.Region())
			}
			return err
		},
	}
	fs := cmd.Flags()
	o.AddFlags(fs, d, true)
	fs.StringVarP(&job, "job-name", "n", "", "transform job name")
	fs.BoolVar(&archive, "archive", false, "keep the job's SageMaker model and its data (required with --async)")
	fs.BoolVar(&async, "async", false, "return once SageMaker accepted the stop")
	fs.IntVar(&timeout, "timeout", int(sagemaker.DefaultTimeout/time.Second), "seconds to wait for the job to stop")
	// MLflow's terminate-transform-job spells the region -r.
	fs.Lookup("region-name").Shorthand = "r"
	return cmd
}

func newCmdSageMakerPushModel(d *deps) *cobra.Command {
	var o struct {
		awsOptions
		modelOptions
		name string
	}
	cmd := &cobra.Command{
		Use:   "push-model -n NAME -m MODEL",
		Short: "Create a SageMaker model from a model directory, without deploying it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.name == "" {
				return fmt.Errorf("--model-name is required")
			}
			m, vpc, err := o.modelOptions.load()
			if err != nil {
				return err
			}
			c, err := o.awsOptions.client(cmd.Context(), d)
			if err != nil {
				return err
			}
			arn, err := c.PushModel(cmd.Context(), sagemaker.PushModelConfig{
				ModelName: o.name, Model: m, ModelURI: o.model, Flavor: o.flavor,
				ExecutionRoleARN: o.executionRoleARN, Bucket: o.bucket, ImageURL: o.imageURL, VpcConfig: vpc,
			})
			if err == nil {
				fmt.Fprintf(d.stdout, "model     %s\n", arn)
			}
			return err
		},
	}
	fs := cmd.Flags()
	o.awsOptions.AddFlags(fs, d, true)
	o.modelOptions.AddFlags(fs, d)
	fs.StringVarP(&o.name, "model-name", "n", "", "SageMaker model name")
	return cmd
}

type sagemakerBuildPushOptions struct {
	awsOptions
	build, noBuild bool
	push, noPush   bool
	container      string
	tag            string
	model          string
	flavor         string
	base           string
	binary         string
	image          string
	registry       string
	// MLflow's, accepted and ignored.
	envManager  string
	mlflowHome  string
	installJava bool
}

func newCmdSageMakerBuildAndPush(d *deps) *cobra.Command {
	o := &sagemakerBuildPushOptions{}
	cmd := &cobra.Command{
		Use:   "build-and-push-container -m MODEL",
		Short: "Build an mlship serving image and push it to Amazon ECR",
		Long: "Build the image `mlship build-docker` builds for MODEL (mlship and the native runtime its\n" +
			"flavor needs; SageMaker replaces /opt/ml/model with each deployed model's data), or take a\n" +
			"built one (--no-build --image), and push it to ECR as ACCOUNT.dkr.ecr.REGION.amazonaws.com/\n" +
			"CONTAINER:TAG, creating the repository when missing. No Docker daemon or AWS CLI is used.\n" +
			"`mlship sagemaker deploy` uses CONTAINER:TAG by default.",
		Example: "  mlship sagemaker build-and-push-container -m ./model\n" +
			"  mlship build-docker -m ./model -n iris --oci-layout ./img\n" +
			"  mlship sagemaker build-and-push-container --no-build --image ./img",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runSageMakerBuildAndPush(cmd, d, o) },
	}
	fs := cmd.Flags()
	o.awsOptions.AddFlags(fs, d, false)
	fs.BoolVar(&o.build, "build", true, "build the image")
	fs.BoolVar(&o.noBuild, "no-build", false, "do not build: push the image named by --image")
	fs.BoolVar(&o.push, "push", true, "push the image to ECR")
	fs.BoolVar(&o.noPush, "no-push", false, "build only")
	fs.StringVarP(&o.container, "container", "c", sagemaker.DefaultImageRepository, "ECR repository (MLflow's image name)")
	fs.StringVar(&o.tag, "tag", "", "image tag (default: this mlship's version, which deploy's default image uses)")
	fs.StringVarP(&o.model, "model-uri", "m", "", "model whose serving runtime the image carries (it also carries the model)")
	fs.StringVar(&o.flavor, "flavor", "", "flavor the image serves (default: the model's preferred native flavor)")
	fs.StringVar(&o.base, "base-image", pack.BaseHost, "base image, as build-docker's --base-image")
	fs.StringVar(&o.binary, "mlship-binary", "", "mlship executable to put in the image (default: this one)")
	fs.StringVar(&o.image, "image", "", "with --no-build: the image to push, an OCI layout directory (build-docker --oci-layout) or a docker tarball (build-docker --tarball)")
	fs.StringVar(&o.registry, "registry", "", "push to this registry host instead of the account's ECR host (a registry beside an emulator)")
	fs.StringVar(&o.envManager, "env-manager", "", "accepted for MLflow compatibility; ignored")
	fs.StringVar(&o.mlflowHome, "mlflow-home", "", "accepted for MLflow compatibility; ignored")
	fs.BoolVar(&o.installJava, "install-java", false, "accepted for MLflow compatibility; ignored")
	for _, f := range []string{"env-manager", "mlflow-home", "install-java", "registry"} {
		_ = fs.MarkHidden(f)
	}
	return cmd
}

func runSageMakerBuildAndPush(cmd *cobra.Command, d *deps, o *sagemakerBuildPushOptions) error {
	ctx := cmd.Context()
	build, push := o.build && !o.noBuild, o.push && !o.noPush
	if !build && !push {
		fmt.Fprintln(d.stdout, "skipping both build and push, have nothing to do!")
		return nil
	}
	var img v1.Image
	var err error
	switch {
	case build && o.image != "":
		return fmt.Errorf("--image names an image to push as it is: give --no-build with it")
	case build:
		if o.model == "" {
			return fmt.Errorf("--model-uri is required to build: the image carries the runtime of the model's flavor (or push a built image with --no-build --image)")
		}
		img, err = pack.Build(ctx, pack.Options{
			Model: o.model, Flavor: o.flavor, Base: o.base, Binary: o.binary, Version: Version(),
			Getenv: d.env.get, CacheDir: d.env.cacheDir(), Logger: d.logger(),
		})
	case o.image == "":
		return fmt.Errorf("--no-build needs --image: an OCI layout directory or a docker tarball")
	default:
		img, err = readImage(o.image)
	}
	if err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	if !push {
		fmt.Fprintf(d.stdout, "built     %s (not pushed)\n", digest)
		return nil
	}
	c, err := o.awsOptions.client(ctx, d)
	if err != nil {
		return err
	}
	ref, err := c.PushImage(ctx, img, sagemaker.PushConfig{Repository: o.container, Tag: o.tag, Registry: o.registry})
	if err != nil {
		return err
	}
	tag := o.tag
	if tag == "" {
		tag = Version()
	}
	fmt.Fprintf(d.stdout, "pushed    %s:%s\n", ref.Context(), tag)
	fmt.Fprintf(d.stdout, "digest    %s\n", ref.DigestStr())
	return nil
}

// readImage reads the only image of an OCI layout directory, or a docker
// tarball.
func readImage(path string) (v1.Image, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("--image: %w", err)
	}
	if !st.IsDir() {
		img, err := tarball.ImageFromPath(path, nil)
		if err != nil {
			return nil, fmt.Errorf("--image %s (read as a docker tarball): %w", path, err)
		}
		return img, nil
	}
	idx, err := layout.ImageIndexFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("--image %s (read as an OCI layout): %w", path, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	if len(m.Manifests) != 1 || !m.Manifests[0].MediaType.IsImage() {
		return nil, fmt.Errorf("--image %s: the layout holds %d entries; want exactly one image", path, len(m.Manifests))
	}
	return idx.Image(m.Manifests[0].Digest)
}
