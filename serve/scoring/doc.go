// Package scoring translates MLflow's scoring protocol to and from Arrow
// record batches: the /invocations request forms (dataframe_split,
// dataframe_records, instances, inputs, CSV) with their params, typed by the
// model signature as MLflow's server types them while parsing, and the
// {"predictions": ...} response in the shapes MLflow returns.
//
// Everything here is a pure function of bytes, schema and batches: no HTTP,
// no model. Errors are *apierr.Error values carrying MLflow's error codes.
//
// Deliberate differences from MLflow (docs/mlflow-compatibility.md): values
// that would change when cast (a fractional number for an integer column, a
// number for a string column, an integer out of the column's range) are
// rejected with INVALID_PARAMETER_VALUE instead of being silently truncated;
// enforcement messages name the columns without echoing the whole request.
package scoring
