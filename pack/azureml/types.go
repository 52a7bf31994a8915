package azureml

// The JSON shapes of the Azure Machine Learning REST API
// (Microsoft.MachineLearningServices, api-version 2024-04-01) that a
// deployment needs: only the fields mlship writes or reads. Field names and
// types follow the published specification (mfe.json); read-only fields
// are marked and never sent.

// onlineEndpoint is an OnlineEndpoint resource (a TrackedResource).
type onlineEndpoint struct {
	Location   string                   `json:"location"`
	Kind       string                   `json:"kind,omitempty"`
	Tags       map[string]string        `json:"tags,omitempty"`
	Identity   *managedServiceIdentity  `json:"identity,omitempty"`
	SKU        *sku                     `json:"sku,omitempty"`
	Properties onlineEndpointProperties `json:"properties"`

	// Read-only.
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
}

type onlineEndpointProperties struct {
	// AuthMode is "Key", "AMLToken" or "AADToken"; required.
	AuthMode            string            `json:"authMode"`
	Description         string            `json:"description,omitempty"`
	Properties          map[string]string `json:"properties,omitempty"`
	Compute             string            `json:"compute,omitempty"`
	PublicNetworkAccess string            `json:"publicNetworkAccess,omitempty"`
	// Traffic maps deployment names to whole percentages summing to 100
	// (or nothing while the endpoint has no deployment taking traffic).
	Traffic       map[string]int32 `json:"traffic,omitempty"`
	MirrorTraffic map[string]int32 `json:"mirrorTraffic,omitempty"`

	// Read-only.
	ProvisioningState string `json:"provisioningState,omitempty"`
	ScoringURI        string `json:"scoringUri,omitempty"`
	SwaggerURI        string `json:"swaggerUri,omitempty"`
}

// managedServiceIdentity: on a PUT only the type and the keys of
// userAssignedIdentities (with empty objects) are writable.
type managedServiceIdentity struct {
	Type                   string                    `json:"type"`
	UserAssignedIdentities map[string]map[string]any `json:"userAssignedIdentities,omitempty"`
	PrincipalID            string                    `json:"principalId,omitempty"` // read-only
	TenantID               string                    `json:"tenantId,omitempty"`    // read-only
}

type sku struct {
	Name     string `json:"name"`
	Tier     string `json:"tier,omitempty"`
	Size     string `json:"size,omitempty"`
	Family   string `json:"family,omitempty"`
	Capacity *int32 `json:"capacity,omitempty"`
}

// onlineDeployment is an OnlineDeployment resource whose properties are a
// ManagedOnlineDeployment (endpointComputeType "Managed").
type onlineDeployment struct {
	Location   string                  `json:"location"`
	Tags       map[string]string       `json:"tags,omitempty"`
	SKU        *sku                    `json:"sku,omitempty"`
	Properties managedOnlineDeployment `json:"properties"`

	ID   string `json:"id,omitempty"`   // read-only
	Name string `json:"name,omitempty"` // read-only
}

type managedOnlineDeployment struct {
	// EndpointComputeType is the discriminator: "Managed".
	EndpointComputeType  string                 `json:"endpointComputeType"`
	Description          string                 `json:"description,omitempty"`
	EnvironmentID        string                 `json:"environmentId,omitempty"`
	EnvironmentVariables map[string]string      `json:"environmentVariables,omitempty"`
	InstanceType         string                 `json:"instanceType,omitempty"`
	Model                string                 `json:"model,omitempty"`
	AppInsightsEnabled   *bool                  `json:"appInsightsEnabled,omitempty"`
	ScaleSettings        *scaleSettings         `json:"scaleSettings,omitempty"`
	RequestSettings      *onlineRequestSettings `json:"requestSettings,omitempty"`
	LivenessProbe        *probeSettings         `json:"livenessProbe,omitempty"`
	ReadinessProbe       *probeSettings         `json:"readinessProbe,omitempty"`
	Properties           map[string]string      `json:"properties,omitempty"`

	ProvisioningState string `json:"provisioningState,omitempty"` // read-only
}

type scaleSettings struct {
	ScaleType string `json:"scaleType"` // "Default" for managed deployments
}

// onlineRequestSettings: durations are ISO 8601 strings ("PT1M").
type onlineRequestSettings struct {
	RequestTimeout                   string `json:"requestTimeout,omitempty"`
	MaxConcurrentRequestsPerInstance *int32 `json:"maxConcurrentRequestsPerInstance,omitempty"`
}

type probeSettings struct {
	InitialDelay     string `json:"initialDelay,omitempty"`
	Period           string `json:"period,omitempty"`
	Timeout          string `json:"timeout,omitempty"`
	FailureThreshold *int32 `json:"failureThreshold,omitempty"`
	SuccessThreshold *int32 `json:"successThreshold,omitempty"`
}

// environmentVersion is an EnvironmentVersion asset: a container image
// plus, for inference, the routes Azure ML probes and forwards to.
type environmentVersion struct {
	Properties environmentVersionProperties `json:"properties"`
	ID         string                       `json:"id,omitempty"` // read-only
}

type environmentVersionProperties struct {
	Description     string                        `json:"description,omitempty"`
	Image           string                        `json:"image"`
	OSType          string                        `json:"osType,omitempty"`
	InferenceConfig *inferenceContainerProperties `json:"inferenceConfig,omitempty"`
	Tags            map[string]string             `json:"tags,omitempty"`
	IsAnonymous     *bool                         `json:"isAnonymous,omitempty"`
}

type inferenceContainerProperties struct {
	LivenessRoute  *route `json:"livenessRoute,omitempty"`
	ReadinessRoute *route `json:"readinessRoute,omitempty"`
	ScoringRoute   *route `json:"scoringRoute,omitempty"`
}

type route struct {
	Path string `json:"path"`
	Port int32  `json:"port"`
}

// workspace is the part of a Workspace resource a deployment reads.
type workspace struct {
	Location string `json:"location"`
}

// armErrorResponse is ARM's error envelope, also the "error" member of a
// failed asynchronous operation's status.
type armErrorResponse struct {
	Error *armErrorDetail `json:"error"`
}

type armErrorDetail struct {
	Code    string           `json:"code"`
	Message string           `json:"message"`
	Target  string           `json:"target,omitempty"`
	Details []armErrorDetail `json:"details,omitempty"`
}
