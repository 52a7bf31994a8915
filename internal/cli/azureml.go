package cli

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mlship/mlship/pack/azureml"
)

// azuremlOptions are the flags every `mlship azureml` command takes: the
// workspace and how to reach and authenticate to Azure Resource Manager.
type azuremlOptions struct {
	subscription  string
	resourceGroup string
	workspace     string
	endpointURL   string
	tenant        string
	tokenFile     string
	timeout       time.Duration
	pollInterval  time.Duration
}

func (o *azuremlOptions) AddFlags(fs *pflag.FlagSet, d *deps) {
	fs.StringVar(&o.subscription, "subscription-id", d.env.get("AZURE_SUBSCRIPTION_ID"), "Azure subscription ID (env AZURE_SUBSCRIPTION_ID)")
	fs.StringVarP(&o.resourceGroup, "resource-group", "g", "", "resource group of the workspace")
	fs.StringVarP(&o.workspace, "workspace", "w", "", "Azure Machine Learning workspace name")
	fs.StringVar(&o.endpointURL, "endpoint-url", azureml.DefaultEndpoint, "Azure Resource Manager base URL (a test server: https, or http on a loopback address)")
	fs.StringVar(&o.tenant, "tenant-id", "", "Azure AD tenant for the credential and the ACR token exchange (default: the credential's)")
	fs.StringVar(&o.tokenFile, "access-token-file", "", "read an ARM bearer token from this file (e.g. from 'az account get-access-token --query accessToken -o tsv') instead of using DefaultAzureCredential")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Minute, "how long to wait for Azure to finish")
	fs.DurationVar(&o.pollInterval, "poll-interval", 10*time.Second, "pause between status requests when Azure sends no Retry-After")
	_ = fs.MarkHidden("poll-interval")
}

// credential is DefaultAzureCredential (environment, workload identity,
// managed identity, Azure CLI, Azure Developer CLI), or the token in
// --access-token-file.
func (o *azuremlOptions) credential() (azcore.TokenCredential, error) {
	if o.tokenFile != "" {
		b, err := os.ReadFile(o.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("--access-token-file: %w", err)
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return nil, fmt.Errorf("--access-token-file %s is empty", o.tokenFile)
		}
		return fileToken(tok), nil
	}
	cred, err := azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{TenantID: o.tenant})
	if err != nil {
		return nil, fmt.Errorf("azure credential: %w", err)
	}
	return cred, nil
}

// fileToken is a bearer token read from a file; its expiry is unknown, so
// it is offered for an hour.
type fileToken string

func (t fileToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: string(t), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func (o *azuremlOptions) client(d *deps, cred azcore.TokenCredential) (*azureml.Client, error) {
	return azureml.NewClient(azureml.Workspace{SubscriptionID: o.subscription, ResourceGroup: o.resourceGroup, Name: o.workspace},
		cred, azureml.Options{Endpoint: o.endpointURL, PollFrequency: o.pollInterval, Logger: d.logger()})
}

// NewCmdAzureML is `mlship azureml deploy|delete`.
func NewCmdAzureML(d *deps) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "azureml",
		Short: "Deploy models to Azure Machine Learning managed online endpoints",
		Long: "Deploy an mlship image to an Azure Machine Learning managed online endpoint as a custom\n" +
			"container (liveness and readiness on /ping, scoring on /invocations, port 8080), through\n" +
			"the Azure ML REST API. See docs/azureml.md.",
	}
	cmd.AddCommand(newCmdAzureMLDeploy(d), newCmdAzureMLDelete(d))
	return cmd
}

type azuremlDeployOptions struct {
	azuremlOptions
	endpoint        string
	deployment      string
	model           string
	image           string
	registry        string
	repository      string
	tag             string
	base            string
	flavor          string
	instanceType    string
	instanceCount   int
	env             []string
	authMode        string
	location        string
	trafficPercent  int
	allTraffic      bool
	requestTimeout  time.Duration
	maxConcurrent   int
	probeDelay      time.Duration
	probePeriod     time.Duration
	probeTimeout    time.Duration
	probeFailures   int
	environmentName string
}

func (o *azuremlDeployOptions) AddFlags(fs *pflag.FlagSet, d *deps) {
	o.azuremlOptions.AddFlags(fs, d)
	fs.StringVarP(&o.endpoint, "name", "n", "", "online endpoint name (created if missing)")
	fs.StringVar(&o.deployment, "deployment-name", azureml.DefaultDeployment, "deployment name")
	fs.StringVarP(&o.model, "model-uri", "m", "", "model to build an image of (with --registry)")
	fs.StringVar(&o.image, "image", "", "deploy this image (best pinned by digest) instead of building one")
	fs.StringVar(&o.registry, "registry", "", "build the model's image and push it to this Azure Container Registry (NAME or NAME.azurecr.io), signing in with Azure AD")
	fs.StringVar(&o.repository, "repository", "", "repository in --registry (default mlship/ENDPOINT)")
	fs.StringVar(&o.tag, "tag", "", "tag in --registry (default: the deployment name); the deployment names the digest")
	fs.StringVar(&o.base, "base-image", "", "base image of the build (default: build-docker's)")
	fs.StringVar(&o.flavor, "flavor", "", "flavor the image serves (default: the model's preferred native flavor)")
	fs.StringVar(&o.instanceType, "instance-type", azureml.DefaultInstanceType, "VM size of the instances")
	fs.IntVar(&o.instanceCount, "instance-count", 1, "number of instances")
	fs.StringArrayVar(&o.env, "env", nil, "environment variable KEY=VALUE of the container (repeatable)")
	fs.StringVar(&o.authMode, "auth-mode", "key", "a new endpoint's authentication: key, aml_token or aad_token")
	fs.StringVar(&o.location, "location", "", "a new endpoint's region (default: the workspace's)")
	fs.IntVar(&o.trafficPercent, "traffic-percent", 0, "the deployment's share of the endpoint's traffic; other deployments share the rest in proportion (default: 100 for a new endpoint, unchanged for an existing one)")
	fs.BoolVar(&o.allTraffic, "all-traffic", false, "send all of the endpoint's traffic to this deployment (az ml's --all-traffic)")
	fs.DurationVar(&o.requestTimeout, "request-timeout", 60*time.Second, "scoring timeout Azure enforces (at most 3m; the container gets the same)")
	fs.IntVar(&o.maxConcurrent, "max-concurrent-requests", 16, "requests Azure lets into one instance at once (mlship batches concurrent requests; Azure's default is 1)")
	fs.DurationVar(&o.probeDelay, "probe-initial-delay", 10*time.Second, "liveness and readiness probes: delay before the first")
	fs.DurationVar(&o.probePeriod, "probe-period", 10*time.Second, "liveness and readiness probes: interval")
	fs.DurationVar(&o.probeTimeout, "probe-timeout", 2*time.Second, "liveness and readiness probes: timeout")
	fs.IntVar(&o.probeFailures, "probe-failure-threshold", 30, "liveness and readiness probes: failures before the instance counts as down")
	fs.StringVar(&o.environmentName, "environment-name", "", "name of the environment asset recording the image (default mlship-ENDPOINT)")
}

func newCmdAzureMLDeploy(d *deps) *cobra.Command {
	o := &azuremlDeployOptions{}
	cmd := &cobra.Command{
		Use:   "deploy -n ENDPOINT (--image REF | -m MODEL --registry ACR) --subscription-id ID -g GROUP -w WORKSPACE",
		Short: "Create or update a managed online endpoint and a deployment running an mlship image",
		Long: "Create the endpoint if it is missing, register the image as an environment, create or update\n" +
			"the deployment, set the traffic, and wait for each step to succeed. The model is inside the\n" +
			"image at /opt/ml/model, so no model asset is registered. Credentials come from\n" +
			"DefaultAzureCredential (environment, workload or managed identity, az login).",
		Example: "  mlship azureml deploy -n iris-ep -m ./model --registry myacr \\\n" +
			"      --subscription-id $SUB -g my-rg -w my-ws\n" +
			"  mlship azureml deploy -n iris-ep --deployment-name green --image myacr.azurecr.io/iris@sha256:... \\\n" +
			"      --traffic-percent 10 --subscription-id $SUB -g my-rg -w my-ws",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAzureMLDeploy(cmd, d, o)
		},
	}
	o.AddFlags(cmd.Flags(), d)
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

func runAzureMLDeploy(cmd *cobra.Command, d *deps, o *azuremlDeployOptions) error {
	log := d.logger()
	switch {
	case o.image != "" && o.registry != "":
		return errors.New("--image and --registry are exclusive: deploy an existing image, or build and push one")
	case o.image == "" && o.registry == "":
		return errors.New("say what to deploy: --image REF, or -m MODEL --registry ACR to build and push the image")
	case o.registry != "" && o.model == "":
		return errors.New("--registry builds the model's image: give -m MODEL")
	case o.image != "" && o.model != "":
		log.Info("the model is in the image: -m is not read with --image")
	}
	spec := azureml.Spec{
		Endpoint:              o.endpoint,
		Deployment:            o.deployment,
		InstanceType:          o.instanceType,
		InstanceCount:         o.instanceCount,
		AuthMode:              o.authMode,
		Location:              o.location,
		AllTraffic:            o.allTraffic,
		RequestTimeout:        o.requestTimeout,
		MaxConcurrentRequests: o.maxConcurrent,
		EnvironmentName:       o.environmentName,
	}
	if o.instanceCount < 1 {
		return fmt.Errorf("--instance-count %d: at least 1", o.instanceCount)
	}
	if cmd.Flags().Changed("traffic-percent") {
		p := o.trafficPercent
		spec.TrafficPercent = &p
	}
	if !cmd.Flags().Changed("auth-mode") {
		spec.AuthMode = "" // an existing endpoint keeps its own; a new one gets Key
	}
	probe := azureml.Probe{InitialDelay: o.probeDelay, Period: o.probePeriod, Timeout: o.probeTimeout, FailureThreshold: o.probeFailures}
	spec.Liveness, spec.Readiness = probe, probe
	env, err := deploymentEnv(o.env, o.requestTimeout)
	if err != nil {
		return err
	}
	spec.Env = env
	if err := spec.Validate(); err != nil {
		return err
	}

	cred, err := o.credential()
	if err != nil {
		return err
	}
	client, err := o.client(d, cred)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
	defer cancel()

	spec.Image = o.image
	if o.registry != "" {
		if spec.Image, err = buildAndPushToACR(ctx, d, o, cred); err != nil {
			return err
		}
	}
	res, err := client.Deploy(ctx, spec)
	if err != nil {
		return err
	}
	out := d.stdout
	fmt.Fprintf(out, "endpoint     %s", res.Endpoint)
	if res.CreatedEndpoint {
		fmt.Fprint(out, " (created)")
	}
	fmt.Fprintf(out, "\ndeployment   %s\nimage        %s\ntraffic      %s\nscoring_uri  %s\n",
		res.Deployment, spec.Image, formatTraffic(res.Traffic), res.ScoringURI)
	if res.Traffic[res.Deployment] == 0 {
		fmt.Fprintf(out, "(%s takes no traffic yet: shift it with --traffic-percent or --all-traffic)\n", res.Deployment)
	}
	return nil
}

// deploymentEnv is the container's environment: --env, plus JSON logs
// (Azure collects the container's stdout and stderr) and the scoring
// timeout Azure enforces, unless --env sets them.
func deploymentEnv(kvs []string, requestTimeout time.Duration) (map[string]string, error) {
	env := map[string]string{"MLSHIP_LOG_FORMAT": "json"}
	if requestTimeout > 0 {
		env["MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT"] = strconv.Itoa(int(requestTimeout.Round(time.Second) / time.Second))
	}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--env %q: want KEY=VALUE", kv)
		}
		env[k] = v
	}
	return env, nil
}

func formatTraffic(t map[string]int32) string {
	if len(t) == 0 {
		return "(none)"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(t)) {
		parts = append(parts, fmt.Sprintf("%s=%d%%", k, t[k]))
	}
	return strings.Join(parts, " ")
}

type azuremlDeleteOptions struct {
	azuremlOptions
	endpoint   string
	deployment string
}

func newCmdAzureMLDelete(d *deps) *cobra.Command {
	o := &azuremlDeleteOptions{}
	cmd := &cobra.Command{
		Use:   "delete -n ENDPOINT [--deployment-name NAME] --subscription-id ID -g GROUP -w WORKSPACE",
		Short: "Delete an online endpoint with its deployments, or one deployment",
		Long: "Without --deployment-name, delete the endpoint and every deployment under it. With it, delete\n" +
			"that deployment, which must take no traffic (Azure refuses otherwise: shift it first).\n" +
			"The environment assets stay, as az ml leaves them.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cred, err := o.credential()
			if err != nil {
				return err
			}
			client, err := o.client(d, cred)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
			defer cancel()
			if err := client.Delete(ctx, o.endpoint, o.deployment); err != nil {
				return err
			}
			if o.deployment != "" {
				fmt.Fprintf(d.stdout, "deleted deployment %s of endpoint %s\n", o.deployment, o.endpoint)
			} else {
				fmt.Fprintf(d.stdout, "deleted endpoint %s\n", o.endpoint)
			}
			return nil
		},
	}
	o.azuremlOptions.AddFlags(cmd.Flags(), d)
	cmd.Flags().StringVarP(&o.endpoint, "name", "n", "", "online endpoint name")
	cmd.Flags().StringVar(&o.deployment, "deployment-name", "", "delete only this deployment")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}
