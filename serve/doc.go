// Package serve is mlship's inference server: MLflow's scoring protocol
// (/ping, /health, /version, /invocations) over any flavors.Predictor.
//
// It sees only the Predictor interface, never a concrete flavor. Wire
// formats are translated at the edge by serve/scoring; handlers return
// errors and one error handler writes MLflow's {"error_code", "message"}
// envelope with MLflow's status codes.
package serve
