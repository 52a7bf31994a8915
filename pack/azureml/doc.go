// Package azureml deploys mlship images to Azure Machine Learning managed
// online endpoints through the Azure ML REST API
// (Microsoft.MachineLearningServices, api-version 2024-04-01), using
// azcore's ARM pipeline (bearer token, retries, resource-provider
// registration) and its long-running-operation pollers (Azure-AsyncOperation
// for PUTs, Location for DELETEs).
//
// A deployment is az ml's sequence, written against the REST API:
//
//	GET    .../onlineEndpoints/{endpoint}                 exists?
//	GET    .../workspaces/{workspace}                     region, for a new endpoint
//	PUT    .../onlineEndpoints/{endpoint}                 new endpoint, auth mode, no traffic; wait
//	PUT    .../environments/{name}/versions/{digest}      the image, with routes /ping and /invocations on 8080
//	PUT    .../onlineEndpoints/{endpoint}/deployments/{d} instance type and count, env, probes, request settings; wait
//	GET    .../onlineEndpoints/{endpoint}                 then PUT it back with the new traffic; wait
//
// The model is inside the image (at /opt/ml/model, where pack puts it), so
// the deployment names no model asset and no blob storage is involved: the
// image digest pins model and server together.
//
// ACRAuthenticator signs in to Azure Container Registry with Azure AD the
// way `az acr login` does (the /oauth2/exchange token exchange), for
// pushing images with go-containerregistry.
package azureml
