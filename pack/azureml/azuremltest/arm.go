// Package azuremltest has fakes for tests of code that deploys to Azure
// Machine Learning (the azureml package and the CLI): ARM, a fake Azure
// Resource Manager for one workspace that checks requests against the REST
// API, and ACR, a real registry behind Azure Container Registry's token
// exchange. Only tests import it.
package azuremltest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// ARM plays Azure Resource Manager for one Azure ML workspace. It checks
// every request against the published REST API (api-version 2024-04-01):
// method, resource path, api-version, bearer token, content type, and the
// JSON body decoded strictly into the spec's shapes (declared here, apart
// from any client's types), with the spec's required fields, enums, value
// types and ISO 8601 durations; a request the service would refuse fails
// the test and gets a 400. It answers like ARM: PUTs of endpoints and
// deployments are long-running (201 or 200 with Azure-AsyncOperation,
// polled InProgress Polls times, then Succeeded, or Failed with an error
// body), DELETEs answer 202 with Location, GETs reflect the state, and
// environment versions are synchronous PUTs. It records the call sequence.
type ARM struct {
	// URL is the server's base URL: the ARM endpoint to configure.
	URL string
	// Client trusts the server's certificate (TLS servers).
	Client *http.Client
	// Token is the bearer token every request must carry.
	Token string
	// The workspace served, and its region.
	SubscriptionID, ResourceGroup, Workspace, Location string
	// Polls is how many InProgress answers an operation gives before it
	// ends (2).
	Polls int
	// NeverFinish keeps every operation InProgress.
	NeverFinish bool

	t testing.TB

	mu         sync.Mutex
	calls      []string
	bodies     map[string][]json.RawMessage // "PUT onlineEndpoints/ep" -> bodies in order
	endpoints  map[string]*endpoint
	envs       map[string]map[string]any // environment versions by ARM ID
	ops        map[string]*operation
	nextOp     int
	failDeploy map[string]Detail // deployment name -> error of its operation
}

// Detail is ARM's error detail: the "error" of an error response or of a
// failed operation.
type Detail struct {
	Code    string   `json:"code"`
	Message string   `json:"message"`
	Details []Detail `json:"details,omitempty"`
}

type endpoint struct {
	body        map[string]any // last PUT body
	state       string
	deployments map[string]string // name -> provisioning state
	depBodies   map[string]map[string]any
}

type operation struct {
	remaining int
	onDone    func() (status string, errBody *Detail)
	location  bool // a Location (delete) operation rather than Azure-AsyncOperation
	done      bool
	status    string
	err       *Detail
}

// NewARM starts a fake ARM over TLS (tls) or plain HTTP on 127.0.0.1,
// stopped when the test ends.
func NewARM(t testing.TB, tls bool) *ARM {
	f := &ARM{
		t: t, Token: "test-arm-token", SubscriptionID: "00000000-1111-2222-3333-444444444444",
		ResourceGroup: "test-rg", Workspace: "my-aml-workspace", Location: "westeurope", Polls: 2,
		bodies: map[string][]json.RawMessage{}, endpoints: map[string]*endpoint{}, envs: map[string]map[string]any{},
		ops: map[string]*operation{}, failDeploy: map[string]Detail{},
	}
	var srv *httptest.Server
	if tls {
		srv = httptest.NewTLSServer(http.HandlerFunc(f.serve))
	} else {
		srv = httptest.NewServer(http.HandlerFunc(f.serve))
	}
	t.Cleanup(srv.Close)
	f.URL, f.Client = srv.URL, srv.Client()
	return f
}

// Seed puts an endpoint in place with deployments (all Succeeded) taking
// the given traffic.
func (f *ARM) Seed(name string, traffic map[string]int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	tr := map[string]any{}
	deps := map[string]string{}
	for k, v := range traffic {
		tr[k] = float64(v)
		deps[k] = "Succeeded"
	}
	f.endpoints[name] = &endpoint{
		body:        map[string]any{"location": f.Location, "properties": map[string]any{"authMode": "Key", "traffic": tr}},
		state:       "Succeeded",
		deployments: deps,
		depBodies:   map[string]map[string]any{},
	}
}

// FailDeployment makes the operation creating or updating deployment name
// end Failed with this error.
func (f *ARM) FailDeployment(name string, e Detail) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failDeploy[name] = e
}

// Calls is the call sequence: "METHOD path", the path relative to the
// workspace ("onlineEndpoints/ep", "workspaces/ws" for the workspace
// itself) or, for operation status, "mfeOperationsStatus/op-N" and
// "mfeOperationResults/op-N".
func (f *ARM) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// Body is the i-th JSON body sent with call ("PUT onlineEndpoints/ep").
func (f *ARM) Body(call string, i int) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	bs := f.bodies[call]
	if i >= len(bs) {
		f.t.Fatalf("no body %d for %q (have %d)", i, call, len(bs))
	}
	var m map[string]any
	if err := json.Unmarshal(bs[i], &m); err != nil {
		f.t.Fatal(err)
	}
	return m
}

// HasEndpoint reports whether the endpoint exists; with a deployment name,
// whether that deployment exists.
func (f *ARM) HasEndpoint(name string, deployment ...string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	ep := f.endpoints[name]
	if ep == nil {
		return false
	}
	for _, d := range deployment {
		if ep.deployments[d] == "" {
			return false
		}
	}
	return true
}

// managedInstanceTypes are VM sizes managed online endpoints offer (a
// subset of Azure's published list).
var managedInstanceTypes = map[string]bool{
	"Standard_DS1_v2": true, "Standard_DS2_v2": true, "Standard_DS3_v2": true, "Standard_DS4_v2": true, "Standard_DS5_v2": true,
	"Standard_F2s_v2": true, "Standard_F4s_v2": true, "Standard_F8s_v2": true, "Standard_F16s_v2": true, "Standard_F32s_v2": true,
	"Standard_E2s_v3": true, "Standard_E4s_v3": true, "Standard_E8s_v3": true, "Standard_E16s_v3": true,
	"Standard_NC6s_v3": true, "Standard_NC12s_v3": true, "Standard_NC24s_v3": true,
}

var (
	reWorkspace = regexp.MustCompile(`^/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\.MachineLearningServices/workspaces/([^/]+)(/.*)?$`)
	reOperation = regexp.MustCompile(`^/subscriptions/([^/]+)/providers/Microsoft\.MachineLearningServices/locations/([^/]+)/(mfeOperationsStatus|mfeOperationResults)/([^/]+)$`)
	reName      = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]{1,30}[a-zA-Z0-9]$`)
	reAsset     = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9\-_.]{0,254}$`)
	reISO8601   = regexp.MustCompile(`^PT(\d+H)?(\d+M)?(\d+(\.\d+)?S)?$`)
)

// armError writes ARM's error envelope.
func armError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("x-ms-error-code", code)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": msg}})
}

// reject fails the test and answers 400 for a request the real API would refuse.
func (f *ARM) reject(w http.ResponseWriter, r *http.Request, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	f.t.Errorf("fake ARM: %s %s: %s", r.Method, r.URL.Path, msg)
	armError(w, http.StatusBadRequest, "BadRequest", msg)
}

func (f *ARM) serve(w http.ResponseWriter, r *http.Request) {
	if got := r.Header.Get("Authorization"); got != "Bearer "+f.Token {
		f.t.Errorf("fake ARM: %s %s: Authorization %q", r.Method, r.URL.Path, got)
		armError(w, http.StatusUnauthorized, "AuthenticationFailed", "missing or bad bearer token")
		return
	}
	if v := r.URL.Query().Get("api-version"); v != "2024-04-01" {
		f.reject(w, r, "api-version %q", v)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if m := reOperation.FindStringSubmatch(r.URL.Path); m != nil {
		f.calls = append(f.calls, r.Method+" "+m[3]+"/"+m[4])
		if m[1] != f.SubscriptionID || m[2] != f.Location || r.Method != http.MethodGet {
			f.reject(w, r, "bad operation URL")
			return
		}
		f.serveOperation(w, r, m[4])
		return
	}
	m := reWorkspace.FindStringSubmatch(r.URL.Path)
	if m == nil {
		f.calls = append(f.calls, r.Method+" "+r.URL.Path)
		f.reject(w, r, "not a path of the Azure ML API")
		return
	}
	if m[1] != f.SubscriptionID || m[2] != f.ResourceGroup || m[3] != f.Workspace {
		// Another workspace: ARM's answer for a missing parent.
		f.calls = append(f.calls, r.Method+" "+r.URL.Path)
		armError(w, http.StatusNotFound, "ParentResourceNotFound",
			fmt.Sprintf("Can not perform requested operation on nested resource. Parent resource '%s' not found.", m[3]))
		return
	}
	rest := strings.TrimPrefix(m[4], "/")
	call := r.Method + " " + rest
	if rest == "" {
		call = r.Method + " workspaces/" + f.Workspace
	}
	f.calls = append(f.calls, call)
	var body []byte
	if r.Method == http.MethodPut {
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			f.reject(w, r, "Content-Type %q", ct)
			return
		}
		body, _ = io.ReadAll(r.Body)
		f.bodies[call] = append(f.bodies[call], json.RawMessage(body))
	}
	parts := strings.Split(rest, "/")
	switch {
	case rest == "" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]any{"id": m[0], "name": f.Workspace, "location": f.Location,
			"type": "Microsoft.MachineLearningServices/workspaces", "properties": map[string]any{}})
	case len(parts) == 2 && parts[0] == "onlineEndpoints":
		f.serveEndpoint(w, r, parts[1], body)
	case len(parts) == 4 && parts[0] == "onlineEndpoints" && parts[2] == "deployments":
		f.serveDeployment(w, r, parts[1], parts[3], body)
	case len(parts) == 4 && parts[0] == "environments" && parts[2] == "versions" && r.Method == http.MethodGet:
		if b, ok := f.envs[m[0]]; ok {
			writeJSON(w, http.StatusOK, b)
			return
		}
		armError(w, http.StatusNotFound, "UserError", "Not found: environment "+parts[1]+" version "+parts[3])
	case len(parts) == 4 && parts[0] == "environments" && parts[2] == "versions" && r.Method == http.MethodPut:
		f.serveEnvironment(w, r, parts[1], parts[3], body, m[0])
	default:
		f.reject(w, r, "no such operation in the API")
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// strict decodes body into v, refusing fields the spec does not define.
func strict(body []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return fmt.Errorf("trailing data")
	}
	return nil
}

// The spec's request shapes (writable fields only).
type specIdentity struct {
	Type                   string                    `json:"type"`
	UserAssignedIdentities map[string]map[string]any `json:"userAssignedIdentities"`
}

type specSKU struct {
	Name     *string `json:"name"`
	Tier     string  `json:"tier"`
	Size     string  `json:"size"`
	Family   string  `json:"family"`
	Capacity *int32  `json:"capacity"`
}

type specEndpointPut struct {
	Location   *string           `json:"location"`
	Kind       string            `json:"kind"`
	Tags       map[string]string `json:"tags"`
	Identity   *specIdentity     `json:"identity"`
	SKU        *specSKU          `json:"sku"`
	Properties *struct {
		AuthMode            *string           `json:"authMode"`
		Description         string            `json:"description"`
		Properties          map[string]string `json:"properties"`
		Compute             string            `json:"compute"`
		PublicNetworkAccess string            `json:"publicNetworkAccess"`
		Traffic             map[string]int32  `json:"traffic"`
		MirrorTraffic       map[string]int32  `json:"mirrorTraffic"`
		Keys                map[string]any    `json:"keys"`
	} `json:"properties"`
}

type specProbe struct {
	FailureThreshold *int32 `json:"failureThreshold"`
	SuccessThreshold *int32 `json:"successThreshold"`
	Timeout          string `json:"timeout"`
	Period           string `json:"period"`
	InitialDelay     string `json:"initialDelay"`
}

type specDeploymentPut struct {
	Location   *string           `json:"location"`
	Kind       string            `json:"kind"`
	Tags       map[string]string `json:"tags"`
	Identity   *specIdentity     `json:"identity"`
	SKU        *specSKU          `json:"sku"`
	Properties *struct {
		EndpointComputeType  *string           `json:"endpointComputeType"`
		Description          string            `json:"description"`
		Properties           map[string]string `json:"properties"`
		CodeConfiguration    map[string]any    `json:"codeConfiguration"`
		EnvironmentID        string            `json:"environmentId"`
		EnvironmentVariables map[string]string `json:"environmentVariables"`
		ScaleSettings        *struct {
			ScaleType string `json:"scaleType"`
		} `json:"scaleSettings"`
		RequestSettings *struct {
			MaxQueueWait                     string `json:"maxQueueWait"`
			RequestTimeout                   string `json:"requestTimeout"`
			MaxConcurrentRequestsPerInstance *int32 `json:"maxConcurrentRequestsPerInstance"`
		} `json:"requestSettings"`
		AppInsightsEnabled        *bool      `json:"appInsightsEnabled"`
		LivenessProbe             *specProbe `json:"livenessProbe"`
		ReadinessProbe            *specProbe `json:"readinessProbe"`
		InstanceType              string     `json:"instanceType"`
		Model                     string     `json:"model"`
		ModelMountPath            string     `json:"modelMountPath"`
		EgressPublicNetworkAccess string     `json:"egressPublicNetworkAccess"`
	} `json:"properties"`
}

type specRoute struct {
	Path *string `json:"path"`
	Port *int32  `json:"port"`
}

type specEnvironmentPut struct {
	Properties *struct {
		Description     string            `json:"description"`
		Properties      map[string]string `json:"properties"`
		Tags            map[string]string `json:"tags"`
		IsAnonymous     *bool             `json:"isAnonymous"`
		IsArchived      *bool             `json:"isArchived"`
		AutoRebuild     string            `json:"autoRebuild"`
		Build           map[string]any    `json:"build"`
		CondaFile       string            `json:"condaFile"`
		Image           string            `json:"image"`
		OSType          string            `json:"osType"`
		Stage           string            `json:"stage"`
		InferenceConfig *struct {
			LivenessRoute  *specRoute `json:"livenessRoute"`
			ReadinessRoute *specRoute `json:"readinessRoute"`
			ScoringRoute   *specRoute `json:"scoringRoute"`
		} `json:"inferenceConfig"`
	} `json:"properties"`
}

func (f *ARM) checkProbe(which string, p *specProbe) string {
	if p == nil {
		return ""
	}
	for _, d := range []string{p.Timeout, p.Period, p.InitialDelay} {
		if d != "" && !reISO8601.MatchString(d) {
			return fmt.Sprintf("%s: %q is not an ISO 8601 duration", which, d)
		}
	}
	if p.FailureThreshold != nil && *p.FailureThreshold < 1 || p.SuccessThreshold != nil && *p.SuccessThreshold < 1 {
		return which + ": thresholds must be positive"
	}
	return ""
}

func (f *ARM) endpointResource(name string, ep *endpoint) map[string]any {
	props := map[string]any{}
	if p, ok := ep.body["properties"].(map[string]any); ok {
		for k, v := range p {
			props[k] = v
		}
	}
	props["provisioningState"] = ep.state
	props["scoringUri"] = fmt.Sprintf("https://%s.%s.inference.ml.azure.com/score", name, f.Location)
	props["swaggerUri"] = fmt.Sprintf("https://%s.%s.inference.ml.azure.com/swagger.json", name, f.Location)
	res := map[string]any{
		"id":   fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.MachineLearningServices/workspaces/%s/onlineEndpoints/%s", f.SubscriptionID, f.ResourceGroup, f.Workspace, name),
		"name": name, "type": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints",
		"location": ep.body["location"], "properties": props,
		"identity":   map[string]any{"type": "SystemAssigned", "principalId": "11111111-2222-3333-4444-555555555555", "tenantId": "22222222-2222-3333-4444-555555555555"},
		"systemData": map[string]any{"createdAt": "2024-05-01T12:00:00Z", "createdBy": "someone", "createdByType": "User"},
	}
	if t, ok := ep.body["tags"]; ok {
		res["tags"] = t
	}
	return res
}

func (f *ARM) serveEndpoint(w http.ResponseWriter, r *http.Request, name string, body []byte) {
	ep := f.endpoints[name]
	switch r.Method {
	case http.MethodGet:
		if ep == nil {
			armError(w, http.StatusNotFound, "ResourceNotFound", "Resource Microsoft.MachineLearningServices/workspaces/onlineEndpoints/"+name+" not found.")
			return
		}
		writeJSON(w, http.StatusOK, f.endpointResource(name, ep))
	case http.MethodPut:
		if !reName.MatchString(name) {
			f.reject(w, r, "endpoint name %q", name)
			return
		}
		var s specEndpointPut
		if err := strict(body, &s); err != nil {
			f.reject(w, r, "body: %v: %s", err, body)
			return
		}
		switch {
		case s.Location == nil || *s.Location == "":
			f.reject(w, r, "location is required")
			return
		case s.Properties == nil || s.Properties.AuthMode == nil:
			f.reject(w, r, "properties.authMode is required")
			return
		case *s.Properties.AuthMode != "Key" && *s.Properties.AuthMode != "AMLToken" && *s.Properties.AuthMode != "AADToken":
			f.reject(w, r, "authMode %q", *s.Properties.AuthMode)
			return
		case s.Identity != nil && s.Identity.Type == "":
			f.reject(w, r, "identity.type is required")
			return
		}
		var sum int32
		for d, v := range s.Properties.Traffic {
			if ep == nil || ep.deployments[d] == "" {
				f.reject(w, r, "traffic names deployment %q, which does not exist", d)
				return
			}
			if v < 0 {
				f.reject(w, r, "negative traffic")
				return
			}
			sum += v
		}
		if len(s.Properties.Traffic) > 0 && sum != 100 && sum != 0 {
			f.reject(w, r, "traffic sums to %d, not 100", sum)
			return
		}
		var raw map[string]any
		json.Unmarshal(body, &raw)
		status := http.StatusOK
		if ep == nil {
			status = http.StatusCreated
			ep = &endpoint{deployments: map[string]string{}, depBodies: map[string]map[string]any{}}
			f.endpoints[name] = ep
			ep.state = "Creating"
		} else {
			if old, _ := ep.body["properties"].(map[string]any); old != nil && old["authMode"] != raw["properties"].(map[string]any)["authMode"] {
				f.reject(w, r, "authMode cannot change")
				return
			}
			ep.state = "Updating"
		}
		ep.body = raw
		op := f.newOp(false, func() (string, *Detail) {
			ep.state = "Succeeded"
			return "Succeeded", nil
		})
		f.lroHeaders(w, op)
		writeJSON(w, status, f.endpointResource(name, ep))
	case http.MethodDelete:
		if ep == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		ep.state = "Deleting"
		op := f.newOp(true, func() (string, *Detail) {
			delete(f.endpoints, name)
			return "Succeeded", nil
		})
		f.lroHeaders(w, op)
		w.WriteHeader(http.StatusAccepted)
	default:
		f.reject(w, r, "method")
	}
}

func (f *ARM) deploymentResource(ep, name string, e *endpoint) map[string]any {
	b := e.depBodies[name]
	props := map[string]any{}
	if p, ok := b["properties"].(map[string]any); ok {
		for k, v := range p {
			props[k] = v
		}
	}
	props["provisioningState"] = e.deployments[name]
	return map[string]any{
		"id":   fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.MachineLearningServices/workspaces/%s/onlineEndpoints/%s/deployments/%s", f.SubscriptionID, f.ResourceGroup, f.Workspace, ep, name),
		"name": name, "type": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments",
		"location": b["location"], "sku": b["sku"], "properties": props,
	}
}

func (f *ARM) serveDeployment(w http.ResponseWriter, r *http.Request, epName, name string, body []byte) {
	ep := f.endpoints[epName]
	if ep == nil {
		armError(w, http.StatusNotFound, "ResourceNotFound", "endpoint "+epName+" not found")
		return
	}
	switch r.Method {
	case http.MethodGet:
		if ep.deployments[name] == "" {
			armError(w, http.StatusNotFound, "ResourceNotFound", "deployment "+name+" not found")
			return
		}
		writeJSON(w, http.StatusOK, f.deploymentResource(epName, name, ep))
	case http.MethodPut:
		if !reName.MatchString(name) {
			f.reject(w, r, "deployment name %q", name)
			return
		}
		var s specDeploymentPut
		if err := strict(body, &s); err != nil {
			f.reject(w, r, "body: %v: %s", err, body)
			return
		}
		p := s.Properties
		switch {
		case s.Location == nil || *s.Location == "":
			f.reject(w, r, "location is required")
			return
		case p == nil || p.EndpointComputeType == nil || *p.EndpointComputeType != "Managed":
			f.reject(w, r, "properties.endpointComputeType must be Managed")
			return
		case p.EnvironmentID == "" || f.envs[p.EnvironmentID] == nil:
			f.reject(w, r, "environmentId %q is not a registered environment version", p.EnvironmentID)
			return
		case p.InstanceType == "":
			f.reject(w, r, "instanceType is required for a managed deployment")
			return
		case !managedInstanceTypes[p.InstanceType]:
			// The service's answer, not a malformed request.
			armError(w, http.StatusBadRequest, "BadArgument", "Instance type "+p.InstanceType+" is not supported for managed online endpoints.")
			return
		case p.ScaleSettings != nil && p.ScaleSettings.ScaleType != "Default":
			f.reject(w, r, "managed deployments take Default scale settings")
			return
		case s.SKU == nil || s.SKU.Name == nil || s.SKU.Capacity == nil || *s.SKU.Capacity < 1:
			f.reject(w, r, "sku with a name and a capacity >= 1 is required")
			return
		}
		if rs := p.RequestSettings; rs != nil {
			if rs.RequestTimeout != "" && !reISO8601.MatchString(rs.RequestTimeout) {
				f.reject(w, r, "requestTimeout %q", rs.RequestTimeout)
				return
			}
			if rs.MaxConcurrentRequestsPerInstance != nil && *rs.MaxConcurrentRequestsPerInstance < 1 {
				f.reject(w, r, "maxConcurrentRequestsPerInstance")
				return
			}
		}
		for which, pr := range map[string]*specProbe{"livenessProbe": p.LivenessProbe, "readinessProbe": p.ReadinessProbe} {
			if msg := f.checkProbe(which, pr); msg != "" {
				f.reject(w, r, "%s", msg)
				return
			}
		}
		var raw map[string]any
		json.Unmarshal(body, &raw)
		status := http.StatusOK
		if ep.deployments[name] == "" {
			status = http.StatusCreated
			ep.deployments[name] = "Creating"
		} else {
			ep.deployments[name] = "Updating"
		}
		ep.depBodies[name] = raw
		op := f.newOp(false, func() (string, *Detail) {
			if e, ok := f.failDeploy[name]; ok {
				ep.deployments[name] = "Failed"
				return "Failed", &e
			}
			ep.deployments[name] = "Succeeded"
			return "Succeeded", nil
		})
		f.lroHeaders(w, op)
		writeJSON(w, status, f.deploymentResource(epName, name, ep))
	case http.MethodDelete:
		if ep.deployments[name] == "" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if tr, _ := ep.body["properties"].(map[string]any)["traffic"].(map[string]any); tr[name] != nil && tr[name].(float64) > 0 {
			armError(w, http.StatusBadRequest, "BadArgument", "Deployment "+name+" has traffic")
			return
		}
		ep.deployments[name] = "Deleting"
		op := f.newOp(true, func() (string, *Detail) {
			delete(ep.deployments, name)
			delete(ep.depBodies, name)
			return "Succeeded", nil
		})
		f.lroHeaders(w, op)
		w.WriteHeader(http.StatusAccepted)
	default:
		f.reject(w, r, "method")
	}
}

func (f *ARM) serveEnvironment(w http.ResponseWriter, r *http.Request, name, version string, body []byte, id string) {
	if !reAsset.MatchString(name) || !reAsset.MatchString(version) {
		f.reject(w, r, "asset name %q version %q", name, version)
		return
	}
	var s specEnvironmentPut
	if err := strict(body, &s); err != nil {
		f.reject(w, r, "body: %v: %s", err, body)
		return
	}
	p := s.Properties
	if p == nil || p.Image == "" {
		f.reject(w, r, "properties.image is required for an image environment")
		return
	}
	if p.OSType != "" && p.OSType != "Linux" && p.OSType != "Windows" {
		f.reject(w, r, "osType %q", p.OSType)
		return
	}
	if ic := p.InferenceConfig; ic != nil {
		for which, rt := range map[string]*specRoute{"livenessRoute": ic.LivenessRoute, "readinessRoute": ic.ReadinessRoute, "scoringRoute": ic.ScoringRoute} {
			if rt == nil {
				continue
			}
			if rt.Path == nil || !strings.HasPrefix(*rt.Path, "/") || rt.Port == nil || *rt.Port < 1 || *rt.Port > 65535 {
				f.reject(w, r, "%s needs a path and a port", which)
				return
			}
		}
	}
	var raw map[string]any
	json.Unmarshal(body, &raw)
	res := map[string]any{"id": id, "name": version, "type": "Microsoft.MachineLearningServices/workspaces/environments/versions", "properties": raw["properties"]}
	status := http.StatusCreated
	if old, ok := f.envs[id]; ok {
		// Asset versions are immutable.
		if !reflect.DeepEqual(old["properties"], raw["properties"]) {
			armError(w, http.StatusConflict, "UserError", "environment version "+version+" exists with other content")
			return
		}
		status = http.StatusOK
	}
	f.envs[id] = res
	writeJSON(w, status, res)
}

func (f *ARM) newOp(location bool, onDone func() (string, *Detail)) string {
	f.nextOp++
	id := fmt.Sprintf("op-%d", f.nextOp)
	f.ops[id] = &operation{remaining: f.Polls, onDone: onDone, location: location}
	return id
}

func (f *ARM) opURL(kind, id string) string {
	return fmt.Sprintf("%s/subscriptions/%s/providers/Microsoft.MachineLearningServices/locations/%s/%s/%s?api-version=2024-04-01",
		f.URL, f.SubscriptionID, f.Location, kind, id)
}

func (f *ARM) lroHeaders(w http.ResponseWriter, id string) {
	if f.ops[id].location {
		w.Header().Set("Location", f.opURL("mfeOperationResults", id))
	} else {
		w.Header().Set("Azure-AsyncOperation", f.opURL("mfeOperationsStatus", id))
	}
	w.Header().Set("x-ms-async-operation-timeout", "PT1H")
}

func (f *ARM) serveOperation(w http.ResponseWriter, r *http.Request, id string) {
	op := f.ops[id]
	if op == nil {
		armError(w, http.StatusNotFound, "NotFound", "no operation "+id)
		return
	}
	if op.remaining > 0 || f.NeverFinish {
		op.remaining--
		if op.location {
			w.Header().Set("Location", f.opURL("mfeOperationResults", id))
			w.WriteHeader(http.StatusAccepted)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"id": r.URL.Path, "name": id, "status": "InProgress", "startTime": "2024-05-01T12:00:00Z"})
		return
	}
	if !op.done {
		op.done = true
		op.status, op.err = op.onDone()
	}
	if op.location {
		w.WriteHeader(http.StatusOK)
		return
	}
	res := map[string]any{"id": r.URL.Path, "name": id, "status": op.status, "startTime": "2024-05-01T12:00:00Z", "endTime": "2024-05-01T12:01:00Z"}
	if op.err != nil {
		res["error"] = op.err
	}
	writeJSON(w, http.StatusOK, res)
}
