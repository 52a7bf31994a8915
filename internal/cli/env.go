package cli

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// EnvVar is one environment variable mlship reads. This is the only place
// that reads the environment; values are passed down to libraries.
type EnvVar struct {
	Name, Description string
}

// Env is the catalogue of environment variables, printed by `mlship env`.
var Env = []EnvVar{
	{"MLSHIP_ONNXRUNTIME_LIB", "path of libonnxruntime.so (or its directory); overrides the search"},
	{"MLSHIP_TF_RUNTIME", "tensorflow models: auto (convert to ONNX; the TensorFlow C library for graphs that cannot be), onnx or native (default of --tf-runtime)"},
	{"MLSHIP_TENSORFLOW_LIB", "path of libtensorflow.so.2 for --tf-runtime native/auto (default: searched in LD_LIBRARY_PATH and the system library directories)"},
	{"MLSHIP_CACHE_DIR", "mlship's cache directory (default $XDG_CACHE_HOME/mlship or ~/.cache/mlship)"},
	{"MLSHIP_LOG_LEVEL", "log level: debug, info, warn, error (default info)"},
	{"MLSHIP_LOG_FORMAT", "log format: text or json (default text)"},
	{"MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT", "request timeout in seconds for /invocations (default 60), as in MLflow"},
	{"MLFLOW_DISABLE_SCHEMA_DETAILS", "true: generic messages for schema enforcement errors, as in MLflow"},
	{"MLFLOW_PORT", "default port of `mlship models serve` and `mlship server` (default 5000), as in MLflow"},
	{"MLFLOW_HOST", "default host of `mlship models serve` and `mlship server` (default 127.0.0.1), as in MLflow"},
	{"MLSHIP_PYTHON", "python_function models: the interpreter to run workers with (default of --python)"},
	{"MLFLOW_MODELS_WORKERS", "python_function models: worker processes (default of --workers; MLFLOW_WORKERS is read too), as in MLflow"},
	{"SERVING_MODEL_CONFIG", "python_function models: JSON object merged into the model config at load, as in MLflow"},
	{"MLSHIP_AUTH_TOKEN", "bearer token required on inference routes (default of --auth-token)"},
	{"AZURE_SUBSCRIPTION_ID", "azureml: default of --subscription-id (azidentity's DefaultAzureCredential reads the other AZURE_* variables)"},
	{"LD_LIBRARY_PATH", "also searched for libonnxruntime.so"},
	{"MLSHIP_HOST", "default of `mlship serve --host` (images built by build-docker set 0.0.0.0)"},
	{"MLSHIP_PORT", "default of `mlship serve --port` (images built by build-docker set 8080)"},
	{"SAGEMAKER_BIND_TO_PORT", "`mlship serve` listens on this port unless --port is given, as SageMaker asks"},
	{"SOURCE_DATE_EPOCH", "build-docker: seconds since 1970 used for every timestamp in the image (reproducible builds)"},
	{"DOCKER_CONFIG", "build-docker --push: directory of the docker config.json holding registry credentials and helpers"},
	{"DOCKER_HOST", "Docker Engine for build-docker --builder docker (default unix:///var/run/docker.sock); DOCKER_TLS_VERIFY and DOCKER_CERT_PATH as the docker CLI reads them"},
	{"MLFLOW_SAGEMAKER_DEPLOY_IMG_URL", "sagemaker: default of --image-url, as in MLflow"},
	{"AWS_REGION", "sagemaker: region when --region-name is not given (then AWS_DEFAULT_REGION, then us-west-2)"},
	{"AWS_ENDPOINT_URL", "sagemaker: default of --endpoint-url (every AWS service at one endpoint, e.g. moto)"},
	{"AWS_ACCESS_KEY_ID", "sagemaker: with AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), static credentials; else the AWS SDK's default chain (AWS_PROFILE, ~/.aws, SSO, instance roles)"},
	{"http_proxy", "sagemaker deploy: copied into the model container's environment, as in MLflow (https_proxy and no_proxy too)"},
	{"MLFLOW_BACKEND_STORE_URI", "server and import-mlruns: default of --backend-store-uri (default sqlite:///mlflow.db), as in MLflow"},
	{"MLFLOW_DEFAULT_ARTIFACT_ROOT", "server: default of --default-artifact-root, as in MLflow"},
	{"MLFLOW_ARTIFACTS_DESTINATION", "server: default of --artifacts-destination (default ./mlartifacts), as in MLflow; with a store as MLFLOW_TRACKING_URI, where mlflow-artifacts:/ runs keep their artifacts"},
	{"MLFLOW_SERVE_ARTIFACTS", "server: default of --serve-artifacts (true), as in MLflow"},
	{"MLFLOW_S3_ENDPOINT_URL", "server: the S3 endpoint for s3:// artifact roots (e.g. MinIO or moto), as in MLflow"},
	{"MLSHIP_AUTH_HTPASSWD", "server: default of --auth-htpasswd (an htpasswd file of bcrypt entries)"},
	{"MLFLOW_STATIC_PREFIX", "server: default of --static-prefix (the UI, /ajax-api, /health and /version under a path such as /mlflow), as in MLflow"},
	{"MLFLOW_TRACKING_URI", "tracking server (http(s)://host:port) for experiments, runs, artifacts, models log and runs:/ model URIs (default of --tracking-uri), as in MLflow"},
	{"MLFLOW_TRACKING_USERNAME", "with MLFLOW_TRACKING_PASSWORD: HTTP basic auth to the tracking server, as in MLflow"},
	{"MLFLOW_TRACKING_TOKEN", "bearer token for the tracking server (wins over basic auth), as in MLflow"},
	{"MLFLOW_TRACKING_INSECURE_TLS", "true: do not verify the tracking server's TLS certificate, as in MLflow"},
	{"MLFLOW_HTTP_REQUEST_MAX_RETRIES", "retries of idempotent tracking requests after 429, 503 or a connection failure (default 5)"},
	{"MLFLOW_HTTP_REQUEST_TIMEOUT", "seconds one tracking request may take (default 120), as in MLflow"},
	{"LOGNAME", "models log: the user recorded on a created run (then USER, LNAME, USERNAME, the account), as MLflow's getpass.getuser"},
	{"MLFLOW_TMP_DIR", "run: default of --storage-dir (where http(s) path parameters are downloaded), as in MLflow"},
	{"KUBE_MLFLOW_TRACKING_URI", "run --backend kubernetes: MLFLOW_TRACKING_URI given to the Job (the cluster's address of the tracking server), as in MLflow"},
	{"MLFLOW_EXPERIMENT_NAME", "models log: experiment of a new run when --experiment-name/--experiment-id are not given (MLFLOW_EXPERIMENT_ID too; runs list reads MLFLOW_EXPERIMENT_ID)"},
}

// environ is the process environment, read once, injectable in tests.
type environ func(string) string

func (e environ) get(k string) string {
	if e == nil {
		return os.Getenv(k)
	}
	return e(k)
}

func (e environ) boolean(k string) bool {
	v, err := strconv.ParseBool(strings.TrimSpace(e.get(k)))
	return err == nil && v
}

func (e environ) seconds(k string, def time.Duration) time.Duration {
	v := strings.TrimSpace(e.get(k))
	if v == "" {
		return def
	}
	n, err := strconv.ParseFloat(v, 64)
	if err != nil || n <= 0 {
		return def
	}
	return time.Duration(n * float64(time.Second))
}

// cacheDir is MLSHIP_CACHE_DIR, else $XDG_CACHE_HOME/mlship, else
// ~/.cache/mlship.
func (e environ) cacheDir() string {
	if d := e.get("MLSHIP_CACHE_DIR"); d != "" {
		return d
	}
	if d := e.get("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "mlship")
	}
	if h := e.get("HOME"); h != "" {
		return filepath.Join(h, ".cache", "mlship")
	}
	return ""
}
