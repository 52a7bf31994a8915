package k8s

// The subset of the Kubernetes and KServe API objects the manifests use,
// field for field as the APIs spell them (k8s.io/api apps/v1 and core/v1,
// serving.kserve.io/v1beta1), so that output decodes strictly into these
// types. The full API modules would pull in apimachinery for a few structs.

// ObjectMeta is metav1.ObjectMeta's name, namespace, labels and annotations.
type ObjectMeta struct {
	Name        string            `yaml:"name,omitempty"`
	Namespace   string            `yaml:"namespace,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty"`
}

// Deployment is apps/v1 Deployment.
type Deployment struct {
	APIVersion string         `yaml:"apiVersion"`
	Kind       string         `yaml:"kind"`
	Metadata   ObjectMeta     `yaml:"metadata"`
	Spec       DeploymentSpec `yaml:"spec"`
}

// DeploymentSpec is apps/v1 DeploymentSpec.
type DeploymentSpec struct {
	Replicas int32              `yaml:"replicas"`
	Selector LabelSelector      `yaml:"selector"`
	Strategy DeploymentStrategy `yaml:"strategy"`
	Template PodTemplateSpec    `yaml:"template"`
}

// LabelSelector is metav1.LabelSelector with matchLabels only.
type LabelSelector struct {
	MatchLabels map[string]string `yaml:"matchLabels"`
}

// DeploymentStrategy is apps/v1 DeploymentStrategy.
type DeploymentStrategy struct {
	Type          string                   `yaml:"type"`
	RollingUpdate *RollingUpdateDeployment `yaml:"rollingUpdate,omitempty"`
}

// RollingUpdateDeployment is apps/v1 RollingUpdateDeployment; values are
// counts or percentages.
type RollingUpdateDeployment struct {
	MaxUnavailable any `yaml:"maxUnavailable"`
	MaxSurge       any `yaml:"maxSurge"`
}

// PodTemplateSpec is core/v1 PodTemplateSpec.
type PodTemplateSpec struct {
	Metadata ObjectMeta `yaml:"metadata"`
	Spec     PodSpec    `yaml:"spec"`
}

// PodSpec is the part of core/v1 PodSpec the manifests set.
type PodSpec struct {
	TerminationGracePeriodSeconds *int64              `yaml:"terminationGracePeriodSeconds,omitempty"`
	SecurityContext               *PodSecurityContext `yaml:"securityContext,omitempty"`
	Containers                    []Container         `yaml:"containers"`
	Volumes                       []Volume            `yaml:"volumes,omitempty"`
}

// PodSecurityContext is core/v1 PodSecurityContext.
type PodSecurityContext struct {
	RunAsNonRoot   *bool           `yaml:"runAsNonRoot,omitempty"`
	SeccompProfile *SeccompProfile `yaml:"seccompProfile,omitempty"`
}

// SeccompProfile is core/v1 SeccompProfile.
type SeccompProfile struct {
	Type string `yaml:"type"`
}

// Container is the part of core/v1 Container the manifests set.
type Container struct {
	Name            string           `yaml:"name"`
	Image           string           `yaml:"image"`
	Args            []string         `yaml:"args,omitempty"`
	Env             []EnvVar         `yaml:"env,omitempty"`
	Ports           []ContainerPort  `yaml:"ports,omitempty"`
	Resources       Resources        `yaml:"resources"`
	StartupProbe    *Probe           `yaml:"startupProbe,omitempty"`
	ReadinessProbe  *Probe           `yaml:"readinessProbe,omitempty"`
	LivenessProbe   *Probe           `yaml:"livenessProbe,omitempty"`
	SecurityContext *SecurityContext `yaml:"securityContext,omitempty"`
	VolumeMounts    []VolumeMount    `yaml:"volumeMounts,omitempty"`
}

// EnvVar is core/v1 EnvVar with a literal value.
type EnvVar struct {
	Name  string `yaml:"name"`
	Value string `yaml:"value"`
}

// ContainerPort is core/v1 ContainerPort.
type ContainerPort struct {
	Name          string `yaml:"name,omitempty"`
	ContainerPort int32  `yaml:"containerPort"`
	Protocol      string `yaml:"protocol"`
}

// Resources is core/v1 ResourceRequirements; values are quantities.
type Resources struct {
	Requests map[string]string `yaml:"requests,omitempty"`
	Limits   map[string]string `yaml:"limits,omitempty"`
}

// Probe is core/v1 Probe with an HTTP GET handler.
type Probe struct {
	HTTPGet             HTTPGetAction `yaml:"httpGet"`
	InitialDelaySeconds int32         `yaml:"initialDelaySeconds,omitempty"`
	PeriodSeconds       int32         `yaml:"periodSeconds"`
	TimeoutSeconds      int32         `yaml:"timeoutSeconds"`
	FailureThreshold    int32         `yaml:"failureThreshold"`
}

// HTTPGetAction is core/v1 HTTPGetAction; Port is a name or a number.
type HTTPGetAction struct {
	Path string `yaml:"path"`
	Port any    `yaml:"port"`
}

// SecurityContext is core/v1 SecurityContext.
type SecurityContext struct {
	RunAsNonRoot             *bool         `yaml:"runAsNonRoot,omitempty"`
	AllowPrivilegeEscalation *bool         `yaml:"allowPrivilegeEscalation,omitempty"`
	ReadOnlyRootFilesystem   *bool         `yaml:"readOnlyRootFilesystem,omitempty"`
	Capabilities             *Capabilities `yaml:"capabilities,omitempty"`
}

// Capabilities is core/v1 Capabilities.
type Capabilities struct {
	Drop []string `yaml:"drop,omitempty"`
}

// Volume is core/v1 Volume with an emptyDir source.
type Volume struct {
	Name     string    `yaml:"name"`
	EmptyDir *EmptyDir `yaml:"emptyDir,omitempty"`
}

// EmptyDir is core/v1 EmptyDirVolumeSource.
type EmptyDir struct {
	Medium    string `yaml:"medium,omitempty"`
	SizeLimit string `yaml:"sizeLimit,omitempty"`
}

// VolumeMount is core/v1 VolumeMount.
type VolumeMount struct {
	Name      string `yaml:"name"`
	MountPath string `yaml:"mountPath"`
}

// Service is core/v1 Service.
type Service struct {
	APIVersion string      `yaml:"apiVersion"`
	Kind       string      `yaml:"kind"`
	Metadata   ObjectMeta  `yaml:"metadata"`
	Spec       ServiceSpec `yaml:"spec"`
}

// ServiceSpec is the part of core/v1 ServiceSpec the manifests set.
type ServiceSpec struct {
	Type     string            `yaml:"type"`
	Selector map[string]string `yaml:"selector"`
	Ports    []ServicePort     `yaml:"ports"`
}

// ServicePort is core/v1 ServicePort; TargetPort is a name or a number.
type ServicePort struct {
	Name       string `yaml:"name"`
	Port       int32  `yaml:"port"`
	TargetPort any    `yaml:"targetPort"`
	Protocol   string `yaml:"protocol"`
}

// InferenceService is KServe's serving.kserve.io/v1beta1 InferenceService.
type InferenceService struct {
	APIVersion string               `yaml:"apiVersion"`
	Kind       string               `yaml:"kind"`
	Metadata   ObjectMeta           `yaml:"metadata"`
	Spec       InferenceServiceSpec `yaml:"spec"`
}

// InferenceServiceSpec is KServe's InferenceServiceSpec, predictor only.
type InferenceServiceSpec struct {
	Predictor PredictorSpec `yaml:"predictor"`
}

// PredictorSpec is KServe's PredictorSpec for a custom predictor: the
// inlined PodSpec's containers and the component extension's replicas.
type PredictorSpec struct {
	MinReplicas *int32      `yaml:"minReplicas,omitempty"`
	Containers  []Container `yaml:"containers"`
}
