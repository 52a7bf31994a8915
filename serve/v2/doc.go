// Package v2 translates the Open Inference Protocol (KServe V2, as Triton,
// KServe and MLServer speak it) to and from Arrow record batches: inference
// requests and responses in JSON, with the binary tensor data extension, and
// model metadata built from an MLmodel signature.
//
// Choices where the protocol's documents leave room (see
// docs/open-inference-protocol.md): JSON `data` may be nested or flat and
// responses are flat; FP16 is accepted as JSON numbers (Triton rejects it)
// and BF16 only as binary data, converted to FP32; BYTES in JSON are UTF-8
// strings; outputs that are not tensors (maps, JSON values) are returned as
// BYTES holding JSON text.
package v2
