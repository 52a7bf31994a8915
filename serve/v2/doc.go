// Package v2 translates the Open Inference Protocol (KServe V2, as Triton,
// KServe and MLServer speak it) to and from Arrow record batches: inference
// requests and responses in JSON, with the binary tensor data extension, and
// model metadata built from an MLmodel signature.
//
// Choices where the protocol's documents leave room (see
// docs/open-inference-protocol.md): JSON `data` may be nested or flat and
// responses are flat; FP16 is accepted as JSON numbers (Triton rejects it)
// and BF16 only as binary data, converted to FP32; BYTES in JSON are UTF-8
// strings; outputs that are not tensors (maps, lists, structs) are returned
// as BYTES holding one JSON text per row, written as Python's json module
// writes them. An empty "outputs" list asks for every output, as in Triton.
// binary_data_output steers the response and is not passed to the model;
// the other request parameters are. Output parameters of extensions this
// package does not implement (classification, shared memory) are refused.
//
// Requests are bounded by what they carry: a tensor has at most 2^31-1
// elements, its shape's product is computed without overflow, and tensors
// with no elements may not claim more rows than the body has bytes (plus
// 1024), so a small request cannot make the server allocate a large batch.
package v2
