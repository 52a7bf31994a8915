package azureml

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

const (
	// APIVersion is the Azure ML REST API version every request names.
	APIVersion = "2024-04-01"
	// DefaultEndpoint is Azure Resource Manager in the public cloud.
	DefaultEndpoint = "https://management.azure.com"

	moduleName    = "mlship/azureml"
	moduleVersion = "v0.1.0"
	provider      = "Microsoft.MachineLearningServices"
)

// Workspace names an Azure Machine Learning workspace.
type Workspace struct {
	SubscriptionID string
	ResourceGroup  string
	Name           string
}

func (w Workspace) validate() error {
	switch {
	case w.SubscriptionID == "":
		return errors.New("a subscription ID is required")
	case w.ResourceGroup == "":
		return errors.New("a resource group is required")
	case w.Name == "":
		return errors.New("a workspace name is required")
	}
	return nil
}

// path is the workspace's ARM resource path.
func (w Workspace) path() string {
	return "/subscriptions/" + url.PathEscape(w.SubscriptionID) +
		"/resourceGroups/" + url.PathEscape(w.ResourceGroup) +
		"/providers/" + provider + "/workspaces/" + url.PathEscape(w.Name)
}

// Options configure a Client. The zero value talks to the public cloud.
type Options struct {
	// Endpoint is the Azure Resource Manager base URL (DefaultEndpoint when
	// empty). Credentials go over https only, or plain http to a loopback
	// address (a test server).
	Endpoint string
	// Transport sends the requests; nil means Go's default HTTP client.
	Transport policy.Transporter
	// PollFrequency is the pause between status requests of a long-running
	// operation when the service sends no Retry-After (default 10s).
	PollFrequency time.Duration
	// Retry configures retries of throttled and failed requests (azcore's
	// defaults when zero).
	Retry policy.RetryOptions
	// Logger receives progress; nil discards it.
	Logger *slog.Logger
}

// Client deploys to one Azure Machine Learning workspace through Azure
// Resource Manager: azcore's ARM pipeline (bearer token, retries,
// resource-provider registration) and its long-running-operation pollers.
type Client struct {
	ws       Workspace
	endpoint string
	pl       runtime.Pipeline
	poll     time.Duration
	log      *slog.Logger
}

// NewClient returns a Client for ws that authenticates with cred (an
// azidentity credential, or any azcore.TokenCredential).
func NewClient(ws Workspace, cred azcore.TokenCredential, opts Options) (*Client, error) {
	if err := ws.validate(); err != nil {
		return nil, err
	}
	if cred == nil {
		return nil, errors.New("azureml: a credential is required")
	}
	ep := strings.TrimRight(opts.Endpoint, "/")
	if ep == "" {
		ep = DefaultEndpoint
	}
	u, err := url.Parse(ep)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("azureml: endpoint %q is not an http(s) URL", opts.Endpoint)
	}
	insecure := false
	if u.Scheme == "http" {
		if !isLoopback(u.Hostname()) {
			return nil, fmt.Errorf("azureml: endpoint %q: credentials are sent over https only (plain http is allowed to loopback addresses)", ep)
		}
		insecure = true
	}
	audience := cloud.AzurePublic.Services[cloud.ResourceManager].Audience
	if audience == "" {
		audience = "https://management.core.windows.net/"
	}
	co := &arm.ClientOptions{}
	co.Cloud = cloud.Configuration{
		ActiveDirectoryAuthorityHost: cloud.AzurePublic.ActiveDirectoryAuthorityHost,
		Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
			cloud.ResourceManager: {Audience: audience, Endpoint: ep},
		},
	}
	co.Transport = opts.Transport
	co.Retry = opts.Retry
	co.InsecureAllowCredentialWithHTTP = insecure
	ac, err := arm.NewClient(moduleName, moduleVersion, cred, co)
	if err != nil {
		return nil, fmt.Errorf("azureml: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	poll := opts.PollFrequency
	if poll <= 0 {
		poll = 10 * time.Second
	}
	return &Client{ws: ws, endpoint: ac.Endpoint(), pl: ac.Pipeline(), poll: poll, log: log}, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Resource paths below the workspace.
func (c *Client) workspacePath() string { return c.ws.path() }

func (c *Client) endpointPath(endpoint string) string {
	return c.ws.path() + "/onlineEndpoints/" + url.PathEscape(endpoint)
}

func (c *Client) deploymentPath(endpoint, deployment string) string {
	return c.endpointPath(endpoint) + "/deployments/" + url.PathEscape(deployment)
}

func (c *Client) environmentVersionPath(name, version string) string {
	return c.ws.path() + "/environments/" + url.PathEscape(name) + "/versions/" + url.PathEscape(version)
}

// send issues one request and returns the response if its status is one of
// ok; any other status becomes an *Error.
func (c *Client) send(ctx context.Context, method, path string, body any, ok ...int) (*http.Response, error) {
	req, err := runtime.NewRequest(ctx, method, runtime.JoinPaths(c.endpoint, path))
	if err != nil {
		return nil, err
	}
	q := req.Raw().URL.Query()
	q.Set("api-version", APIVersion)
	req.Raw().URL.RawQuery = q.Encode()
	req.Raw().Header.Set("Accept", "application/json")
	if body != nil {
		if err := runtime.MarshalAsJSON(req, body); err != nil {
			return nil, err
		}
	}
	resp, err := c.pl.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if !runtime.HasStatusCode(resp, ok...) {
		rerr := runtime.NewResponseError(resp)
		var re *azcore.ResponseError
		if errors.As(rerr, &re) {
			return nil, newError(method, path, re)
		}
		return nil, fmt.Errorf("%s %s: %w", method, path, rerr)
	}
	return resp, nil
}

// get reads a resource into out; found is false on 404.
func (c *Client) get(ctx context.Context, path string, out any) (found bool, err error) {
	resp, err := c.send(ctx, http.MethodGet, path, nil, http.StatusOK)
	if err != nil {
		if IsNotFound(err) {
			return false, nil
		}
		return false, err
	}
	if err := runtime.UnmarshalAsJSON(resp, out); err != nil {
		return true, fmt.Errorf("GET %s: %w", path, err)
	}
	return true, nil
}

// longRunning starts an asynchronous ARM operation and waits for it,
// logging its status as what. A PUT ends with a GET of the resource (the
// API's final-state-via original-uri) decoded into out; a DELETE ends when
// the Location URL stops answering 202. It returns the initial status code
// (a DELETE answers 204 when there was nothing to delete).
func (c *Client) longRunning(ctx context.Context, what, method, path string, body, out any, ok ...int) (int, error) {
	resp, err := c.send(ctx, method, path, body, ok...)
	if err != nil {
		return 0, err
	}
	status := resp.StatusCode
	if status == http.StatusNoContent {
		resp.Body.Close()
		return status, nil
	}
	final := runtime.FinalStateViaOriginalURI
	if method == http.MethodDelete {
		final = runtime.FinalStateViaLocation
	}
	poller, err := runtime.NewPoller(resp, c.pl, &runtime.NewPollerOptions[json.RawMessage]{FinalStateVia: final})
	if err != nil {
		return status, fmt.Errorf("%s %s: %w", method, path, err)
	}
	last := ""
	if err := sleep(ctx, retryAfter(resp, 0)); err != nil {
		return status, c.pollError(ctx, what, last, method, path, err)
	}
	for !poller.Done() {
		presp, err := poller.Poll(ctx)
		if err != nil {
			return status, c.pollError(ctx, what, last, method, path, err)
		}
		if s := operationStatus(presp); s != last {
			last = s
			c.log.Info(what, "status", s)
		}
		if poller.Done() {
			break
		}
		if err := sleep(ctx, retryAfter(presp, c.poll)); err != nil {
			return status, c.pollError(ctx, what, last, method, path, err)
		}
	}
	res, err := poller.Result(ctx)
	if err != nil {
		return status, c.pollError(ctx, what, last, method, path, err)
	}
	if out != nil && len(res) > 0 {
		if err := json.Unmarshal(res, out); err != nil {
			return status, fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return status, nil
}

func (c *Client) pollError(ctx context.Context, what, last, method, path string, err error) error {
	if ctx.Err() != nil {
		if last == "" {
			last = "unknown"
		}
		return fmt.Errorf("%s: gave up waiting (last status %s); the operation continues in Azure: %w", what, last, ctx.Err())
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return fmt.Errorf("%s: %w", what, newError(method, path, re))
	}
	return fmt.Errorf("%s: %w", what, err)
}

// operationStatus is the status an LRO poll reported: the "status" of an
// Azure-AsyncOperation resource, else the resource's provisioningState,
// else what the HTTP status implies.
func operationStatus(resp *http.Response) string {
	if resp == nil {
		return ""
	}
	body, _ := runtime.Payload(resp)
	var s struct {
		Status     string `json:"status"`
		Properties struct {
			ProvisioningState string `json:"provisioningState"`
		} `json:"properties"`
	}
	if json.Unmarshal(body, &s) == nil {
		if s.Status != "" {
			return s.Status
		}
		if s.Properties.ProvisioningState != "" {
			return s.Properties.ProvisioningState
		}
	}
	switch {
	case resp.StatusCode == http.StatusAccepted:
		return "InProgress"
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return "Succeeded"
	}
	return http.StatusText(resp.StatusCode)
}

// retryAfter honours a Retry-After header (seconds or an HTTP date), else def.
func retryAfter(resp *http.Response, def time.Duration) time.Duration {
	if resp == nil {
		return def
	}
	v := resp.Header.Get("Retry-After")
	if v == "" {
		return def
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
		return 0
	}
	return def
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
