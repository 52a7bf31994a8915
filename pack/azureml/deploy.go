package azureml

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The container contract: mlship serve on port 8080, answering /ping for
// liveness and readiness and /invocations for scoring (the SageMaker and
// MLflow scoring-server contract the images built by pack follow).
const (
	ContainerPort = 8080
	PingPath      = "/ping"
	ScoringPath   = "/invocations"
)

// Defaults of a Spec, as az ml and MLflow's Azure ML plugin use them where
// they have one.
const (
	DefaultDeployment   = "blue"
	DefaultInstanceType = "Standard_DS3_v2"
	DefaultAuthMode     = "Key"
	// MaxRequestTimeout is the largest request timeout managed online
	// endpoints accept.
	MaxRequestTimeout = 180 * time.Second
)

// Probe configures a liveness or readiness probe; zero fields take Azure
// ML's defaults (10s initial delay, 10s period, 2s timeout, 30 failures, 1
// success).
type Probe struct {
	InitialDelay, Period, Timeout      time.Duration
	FailureThreshold, SuccessThreshold int
}

// Spec describes one deployment of a container image to a managed online
// endpoint.
type Spec struct {
	// Endpoint is the online endpoint's name: 3 to 32 letters, digits and
	// hyphens, starting with a letter. It is created when missing.
	Endpoint string
	// Deployment is the deployment's name (DefaultDeployment when empty),
	// with the same rules.
	Deployment string
	// Image is the container image, in a registry the workspace can pull
	// from (its own Azure Container Registry needs no more setup); best
	// pinned by digest. The model is inside it at /opt/ml/model, so the
	// deployment names no model asset.
	Image string

	// InstanceType is the VM size (DefaultInstanceType); InstanceCount the
	// number of instances (1 when zero).
	InstanceType  string
	InstanceCount int
	// Env is the deployment's environment variables.
	Env map[string]string

	// AuthMode is the new endpoint's authentication: "Key" (default),
	// "AMLToken" or "AADToken". An existing endpoint keeps its own.
	AuthMode string
	// Location is the new endpoint's region; empty means the workspace's.
	Location    string
	Description string
	Tags        map[string]string

	// AllTraffic sends all of the endpoint's traffic to this deployment.
	AllTraffic bool
	// TrafficPercent, when not nil, is the deployment's share of the
	// traffic; the other deployments share the rest in proportion. When
	// neither is set a new endpoint sends it 100% and an existing one
	// leaves traffic as it is.
	TrafficPercent *int

	// RequestTimeout is the scoring timeout (Azure's default, 5s, when
	// zero; at most MaxRequestTimeout). MaxConcurrentRequests is the
	// number of requests Azure lets into one instance at a time (Azure's
	// default, 1, when zero).
	RequestTimeout        time.Duration
	MaxConcurrentRequests int
	Liveness, Readiness   Probe

	// EnvironmentName names the environment asset that records the image
	// and routes; "mlship-<endpoint>" when empty. Its version is a digest of
	// its content, so deploying the same image again reuses it.
	EnvironmentName string
}

// Result is what a deployment produced.
type Result struct {
	Endpoint, Deployment string
	// CreatedEndpoint is true when the endpoint did not exist before.
	CreatedEndpoint bool
	// EnvironmentID is the ARM ID of the environment version used.
	EnvironmentID string
	// Traffic is the endpoint's traffic after the deployment.
	Traffic    map[string]int32
	ScoringURI string
	SwaggerURI string
}

// Validate checks a Spec as Deploy will, before anything is built or sent.
// The image may still be empty (it may not be built yet).
func (s Spec) Validate() error {
	if s.Image == "" {
		s.Image = "-"
	}
	_, err := s.withDefaults()
	return err
}

var nameRE = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]{1,30}[a-zA-Z0-9]$`)

func (s *Spec) withDefaults() (Spec, error) {
	sp := *s
	if sp.Deployment == "" {
		sp.Deployment = DefaultDeployment
	}
	if sp.InstanceType == "" {
		sp.InstanceType = DefaultInstanceType
	}
	if sp.InstanceCount == 0 {
		sp.InstanceCount = 1
	}
	if sp.AuthMode == "" {
		sp.AuthMode = DefaultAuthMode
	}
	if sp.EnvironmentName == "" {
		sp.EnvironmentName = "mlship-" + sp.Endpoint
	}
	switch {
	case !nameRE.MatchString(sp.Endpoint):
		return sp, fmt.Errorf("endpoint name %q: use 3 to 32 letters, digits and hyphens, starting with a letter and not ending with a hyphen", sp.Endpoint)
	case !nameRE.MatchString(sp.Deployment):
		return sp, fmt.Errorf("deployment name %q: use 3 to 32 letters, digits and hyphens, starting with a letter and not ending with a hyphen", sp.Deployment)
	case sp.Image == "":
		return sp, errors.New("an image is required")
	case sp.InstanceCount < 0:
		return sp, fmt.Errorf("instance count %d is negative", sp.InstanceCount)
	case sp.RequestTimeout < 0 || sp.RequestTimeout > MaxRequestTimeout:
		return sp, fmt.Errorf("request timeout %s is not between 0 and %s", sp.RequestTimeout, MaxRequestTimeout)
	case sp.MaxConcurrentRequests < 0:
		return sp, fmt.Errorf("max concurrent requests %d is negative", sp.MaxConcurrentRequests)
	case sp.AllTraffic && sp.TrafficPercent != nil:
		return sp, errors.New("all traffic and a traffic percent are exclusive")
	case sp.TrafficPercent != nil && (*sp.TrafficPercent < 0 || *sp.TrafficPercent > 100):
		return sp, fmt.Errorf("traffic percent %d is not between 0 and 100", *sp.TrafficPercent)
	}
	switch strings.ToLower(sp.AuthMode) {
	case "key":
		sp.AuthMode = "Key"
	case "amltoken", "aml_token":
		sp.AuthMode = "AMLToken"
	case "aadtoken", "aad_token":
		sp.AuthMode = "AADToken"
	default:
		return sp, fmt.Errorf("auth mode %q: use Key, AMLToken or AADToken", sp.AuthMode)
	}
	return sp, nil
}

// Deploy creates or updates a managed online endpoint and a deployment
// running spec.Image, sets the endpoint's traffic, and waits for each step
// to reach provisioning state Succeeded. The call sequence is az ml's:
// read the endpoint; create it (with no traffic) if missing; register the
// image as an environment version; create or update the deployment; then
// write the endpoint's traffic. Bound the whole wait with ctx.
func (c *Client) Deploy(ctx context.Context, spec Spec) (*Result, error) {
	sp, err := spec.withDefaults()
	if err != nil {
		return nil, err
	}
	res := &Result{Endpoint: sp.Endpoint, Deployment: sp.Deployment}

	var ep onlineEndpoint
	found, err := c.get(ctx, c.endpointPath(sp.Endpoint), &ep)
	if err != nil {
		return nil, fmt.Errorf("reading endpoint %s: %w", sp.Endpoint, err)
	}
	plan := trafficPlan{All: sp.AllTraffic}
	if sp.TrafficPercent != nil {
		plan.Set, plan.Percent = true, *sp.TrafficPercent
	}
	// Refuse a traffic split that cannot be made before creating anything.
	if _, _, err := nextTraffic(ep.Properties.Traffic, sp.Deployment, plan); err != nil {
		return nil, err
	}
	location := ep.Location
	if !found {
		if location = sp.Location; location == "" {
			var ws workspace
			ok, err := c.get(ctx, c.workspacePath(), &ws)
			if err == nil && !ok {
				err = fmt.Errorf("workspace %s in resource group %s: %w", c.ws.Name, c.ws.ResourceGroup, ErrNotFound)
			}
			if err != nil {
				return nil, fmt.Errorf("reading the workspace's location: %w", err)
			}
			location = ws.Location
		}
		c.log.Info("creating endpoint", "endpoint", sp.Endpoint, "location", location, "auth_mode", sp.AuthMode)
		body := onlineEndpoint{
			Location: location,
			Tags:     sp.Tags,
			Properties: onlineEndpointProperties{
				AuthMode:    sp.AuthMode,
				Description: sp.Description,
			},
		}
		if err := c.putEndpoint(ctx, sp.Endpoint, body, &ep); err != nil {
			return nil, err
		}
		res.CreatedEndpoint = true
	} else {
		c.log.Info("updating endpoint", "endpoint", sp.Endpoint, "state", ep.Properties.ProvisioningState, "traffic", ep.Properties.Traffic)
		if spec.AuthMode != "" && !strings.EqualFold(spec.AuthMode, ep.Properties.AuthMode) {
			c.log.Warn("the endpoint exists: its auth mode stays", "auth_mode", ep.Properties.AuthMode)
		}
	}

	envID, err := c.putEnvironment(ctx, sp)
	if err != nil {
		return nil, err
	}
	res.EnvironmentID = envID

	if err := c.putDeployment(ctx, sp, location, envID); err != nil {
		return nil, err
	}

	// Read the endpoint again just before writing its traffic.
	if found, err := c.get(ctx, c.endpointPath(sp.Endpoint), &ep); err != nil || !found {
		if err == nil {
			err = ErrNotFound
		}
		return nil, fmt.Errorf("reading endpoint %s: %w", sp.Endpoint, err)
	}
	next, changed, err := nextTraffic(ep.Properties.Traffic, sp.Deployment, plan)
	if err != nil {
		return nil, err
	}
	if changed {
		c.log.Info("setting traffic", "endpoint", sp.Endpoint, "traffic", next)
		body := writableEndpoint(ep)
		body.Properties.Traffic = next
		if err := c.putEndpoint(ctx, sp.Endpoint, body, &ep); err != nil {
			return nil, fmt.Errorf("setting traffic: %w", err)
		}
	} else if ep.Properties.Traffic[sp.Deployment] == 0 {
		c.log.Info("traffic unchanged: the new deployment takes none until you shift it (--traffic-percent or --all-traffic)", "traffic", ep.Properties.Traffic)
	}
	res.Traffic = ep.Properties.Traffic
	res.ScoringURI = ep.Properties.ScoringURI
	res.SwaggerURI = ep.Properties.SwaggerURI
	return res, nil
}

// putEndpoint creates or updates an endpoint and waits for it.
func (c *Client) putEndpoint(ctx context.Context, name string, body onlineEndpoint, out *onlineEndpoint) error {
	what := "endpoint " + name
	if _, err := c.longRunning(ctx, what, http.MethodPut, c.endpointPath(name), body, out, http.StatusOK, http.StatusCreated); err != nil {
		return err
	}
	if s := out.Properties.ProvisioningState; s != "Succeeded" {
		return fmt.Errorf("%s: provisioning state %q, not Succeeded", what, s)
	}
	return nil
}

// writableEndpoint keeps what a PUT may send back of a resource read with
// GET, dropping read-only fields.
func writableEndpoint(ep onlineEndpoint) onlineEndpoint {
	w := onlineEndpoint{
		Location: ep.Location,
		Kind:     ep.Kind,
		Tags:     ep.Tags,
		SKU:      ep.SKU,
		Properties: onlineEndpointProperties{
			AuthMode:            ep.Properties.AuthMode,
			Description:         ep.Properties.Description,
			Properties:          ep.Properties.Properties,
			Compute:             ep.Properties.Compute,
			PublicNetworkAccess: ep.Properties.PublicNetworkAccess,
			Traffic:             maps.Clone(ep.Properties.Traffic),
			MirrorTraffic:       ep.Properties.MirrorTraffic,
		},
	}
	if id := ep.Identity; id != nil {
		w.Identity = &managedServiceIdentity{Type: id.Type}
		for k := range id.UserAssignedIdentities {
			if w.Identity.UserAssignedIdentities == nil {
				w.Identity.UserAssignedIdentities = map[string]map[string]any{}
			}
			w.Identity.UserAssignedIdentities[k] = map[string]any{}
		}
	}
	return w
}

// environment is the environment version recording the image and the
// routes Azure ML uses: liveness and readiness on /ping, scoring on
// /invocations, all on port 8080.
func environment(sp Spec) environmentVersion {
	r := func(p string) *route { return &route{Path: p, Port: ContainerPort} }
	return environmentVersion{Properties: environmentVersionProperties{
		Description: "mlship serve: the model is in the image at /opt/ml/model",
		Image:       sp.Image,
		OSType:      "Linux",
		InferenceConfig: &inferenceContainerProperties{
			LivenessRoute:  r(PingPath),
			ReadinessRoute: r(PingPath),
			ScoringRoute:   r(ScoringPath),
		},
		Tags: map[string]string{"mlship.endpoint": sp.Endpoint},
	}}
}

// putEnvironment registers the environment version (a synchronous PUT)
// unless it exists, and returns its ARM ID. Asset versions are immutable,
// so the version is a digest of the content: the same image and routes map
// to the same version, which a later deployment reuses.
func (c *Client) putEnvironment(ctx context.Context, sp Spec) (string, error) {
	env := environment(sp)
	b, _ := json.Marshal(env.Properties)
	sum := sha256.Sum256(b)
	version := hex.EncodeToString(sum[:8])
	path := c.environmentVersionPath(sp.EnvironmentName, version)
	var have environmentVersion
	found, err := c.get(ctx, path, &have)
	if err != nil {
		return "", fmt.Errorf("reading environment %s:%s: %w", sp.EnvironmentName, version, err)
	}
	if found {
		c.log.Info("environment registered before", "name", sp.EnvironmentName, "version", version, "image", have.Properties.Image)
		if have.ID != "" {
			return have.ID, nil
		}
		return path, nil
	}
	c.log.Info("registering environment", "name", sp.EnvironmentName, "version", version, "image", sp.Image)
	resp, err := c.send(ctx, http.MethodPut, path, env, http.StatusOK, http.StatusCreated)
	if err != nil {
		return "", fmt.Errorf("registering environment %s:%s: %w", sp.EnvironmentName, version, err)
	}
	defer resp.Body.Close()
	var out environmentVersion
	if err := json.NewDecoder(resp.Body).Decode(&out); err == nil && out.ID != "" {
		return out.ID, nil
	}
	return path, nil
}

func (c *Client) putDeployment(ctx context.Context, sp Spec, location, envID string) error {
	i32 := func(n int) *int32 { v := int32(n); return &v }
	probe := func(p Probe) *probeSettings {
		ps := &probeSettings{
			InitialDelay: isoDuration(10 * time.Second),
			Period:       isoDuration(10 * time.Second),
			Timeout:      isoDuration(2 * time.Second),
			// Azure ML's default failure threshold.
			FailureThreshold: i32(30),
			SuccessThreshold: i32(1),
		}
		if p.InitialDelay > 0 {
			ps.InitialDelay = isoDuration(p.InitialDelay)
		}
		if p.Period > 0 {
			ps.Period = isoDuration(p.Period)
		}
		if p.Timeout > 0 {
			ps.Timeout = isoDuration(p.Timeout)
		}
		if p.FailureThreshold > 0 {
			ps.FailureThreshold = i32(p.FailureThreshold)
		}
		if p.SuccessThreshold > 0 {
			ps.SuccessThreshold = i32(p.SuccessThreshold)
		}
		return ps
	}
	props := managedOnlineDeployment{
		EndpointComputeType:  "Managed",
		Description:          sp.Description,
		EnvironmentID:        envID,
		EnvironmentVariables: sp.Env,
		InstanceType:         sp.InstanceType,
		ScaleSettings:        &scaleSettings{ScaleType: "Default"},
		LivenessProbe:        probe(sp.Liveness),
		ReadinessProbe:       probe(sp.Readiness),
	}
	if sp.RequestTimeout > 0 || sp.MaxConcurrentRequests > 0 {
		props.RequestSettings = &onlineRequestSettings{}
		if sp.RequestTimeout > 0 {
			props.RequestSettings.RequestTimeout = isoDuration(sp.RequestTimeout)
		}
		if sp.MaxConcurrentRequests > 0 {
			props.RequestSettings.MaxConcurrentRequestsPerInstance = i32(sp.MaxConcurrentRequests)
		}
	}
	body := onlineDeployment{
		Location: location,
		Tags:     sp.Tags,
		// az ml sends the instance count as the SKU's capacity, with the
		// name "Default".
		SKU:        &sku{Name: "Default", Capacity: i32(sp.InstanceCount)},
		Properties: props,
	}
	what := "deployment " + sp.Deployment
	c.log.Info("deploying", "deployment", sp.Deployment, "instance_type", sp.InstanceType, "instance_count", sp.InstanceCount)
	var out onlineDeployment
	if _, err := c.longRunning(ctx, what, http.MethodPut, c.deploymentPath(sp.Endpoint, sp.Deployment), body, &out, http.StatusOK, http.StatusCreated); err != nil {
		return err
	}
	if s := out.Properties.ProvisioningState; s != "Succeeded" {
		return fmt.Errorf("%s: provisioning state %q, not Succeeded", what, s)
	}
	return nil
}

// Delete deletes an endpoint with all its deployments or, when deployment
// is not empty, that one deployment, and waits for Azure to finish. A
// deployment that still takes traffic (or mirrored traffic) is refused, as
// Azure refuses it: shift its traffic first. A missing endpoint or
// deployment is an error matching ErrNotFound.
func (c *Client) Delete(ctx context.Context, endpoint, deployment string) error {
	var ep onlineEndpoint
	found, err := c.get(ctx, c.endpointPath(endpoint), &ep)
	if err != nil {
		return fmt.Errorf("reading endpoint %s: %w", endpoint, err)
	}
	if !found {
		return fmt.Errorf("endpoint %s: %w", endpoint, ErrNotFound)
	}
	if deployment == "" {
		c.log.Info("deleting endpoint and its deployments", "endpoint", endpoint, "traffic", ep.Properties.Traffic)
		_, err := c.longRunning(ctx, "deleting endpoint "+endpoint, http.MethodDelete, c.endpointPath(endpoint), nil, nil,
			http.StatusOK, http.StatusAccepted, http.StatusNoContent)
		return err
	}
	if p := ep.Properties.Traffic[deployment]; p > 0 {
		return fmt.Errorf("deployment %s takes %d%% of endpoint %s's traffic (%s): shift it to another deployment first, or delete the endpoint",
			deployment, p, endpoint, formatTraffic(ep.Properties.Traffic))
	}
	if p := ep.Properties.MirrorTraffic[deployment]; p > 0 {
		return fmt.Errorf("deployment %s receives %d%% mirrored traffic of endpoint %s: stop mirroring first", deployment, p, endpoint)
	}
	c.log.Info("deleting deployment", "endpoint", endpoint, "deployment", deployment)
	status, err := c.longRunning(ctx, "deleting deployment "+deployment, http.MethodDelete, c.deploymentPath(endpoint, deployment), nil, nil,
		http.StatusOK, http.StatusAccepted, http.StatusNoContent)
	if err != nil {
		return err
	}
	if status == http.StatusNoContent {
		return fmt.Errorf("deployment %s of endpoint %s: %w", deployment, endpoint, ErrNotFound)
	}
	return nil
}

func formatTraffic(t map[string]int32) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(t)) {
		parts = append(parts, k+"="+strconv.Itoa(int(t[k])))
	}
	return strings.Join(parts, " ")
}
