// Package loadgen is the client side of `mlship bench`: it builds request
// bodies for a model and offers them to a server as measured load.
//
//   - Sample holds rows of data for a model's inputs, from its signature and
//     input example (or from a server's V2 metadata), and encodes them as an
//     MLflow JSON, CSV, Open Inference Protocol or Arrow IPC body.
//   - Run drives a Caller from a number of workers, closed-loop (each sends
//     its next request when the last is answered) or open-loop at a fixed
//     arrival rate, for a duration or a request count, and records
//     latencies in a Histogram and failures by status.
//   - Report lays the results of a concurrency sweep out as a markdown
//     table or JSON.
//
// It knows nothing of the server: a Caller may be an HTTP request
// (HTTPCaller) or any function, which is how the CLI times the flavor's
// Predict directly as the limit the server is compared against. It imports
// no serve or flavors package, so the load generator cannot lean on server
// internals to build what it sends.
package loadgen
