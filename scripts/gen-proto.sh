#!/usr/bin/env bash
# Regenerates the Go types of the TensorFlow and ONNX protocol buffers that
# mlship reads and writes (SavedModels, checkpoints, ONNX models).
#
# The .proto sources are checked in beside the generated code:
#   internal/tfpb/proto/tensorflow/core/...  from tensorflow v2.15.0 (the Go
#     module proxy's github.com/tensorflow/tensorflow@v2.15.0+incompatible zip),
#     the closure of saved_model.proto, tensor_bundle.proto, fingerprint.proto;
#   internal/onnxpb/proto/onnx-ml.proto  from Debian's python3-onnx 1.12.0.
# Tools: Debian's protobuf-compiler (protoc 3.21) and protoc-gen-go
#   (apt-get install protobuf-compiler protoc-gen-go).
# Every file maps to one Go package per source (-M), so the generated code
# lives flat in internal/tfpb and internal/onnxpb whatever go_package the
# upstream files declare.
set -euo pipefail
cd "$(dirname "$0")/.."
mod=github.com/mlship/mlship

gen() { # gen <proto root> <go package dir> <files...>
	local root=$1 pkg=$2
	shift 2
	local maps=()
	for f in "$@"; do maps+=("--go_opt=M$f=$mod/$pkg;$(basename "$pkg")"); done
	rm -f "$pkg"/*.pb.go
	protoc -I "$root" -I /usr/include --go_out=. --go_opt=module=$mod "${maps[@]}" "$@"
}

tf_files=$(cd internal/tfpb/proto && find tensorflow -name '*.proto' | sort)
# shellcheck disable=SC2086
gen internal/tfpb/proto internal/tfpb $tf_files
gen internal/onnxpb/proto internal/onnxpb onnx-ml.proto
