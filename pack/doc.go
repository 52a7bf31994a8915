// Package pack builds container images that serve MLflow models, without a
// container engine, and publishes them.
//
// Build turns a model directory into an OCI image (go-containerregistry's
// v1.Image) with three parts:
//
//	base      BaseHost ("host", the default): the dynamic loader and the
//	          shared libraries the programs below need, copied from this
//	          machine, plus passwd/group, CA certificates, /tmp; or any
//	          image: a registry reference, an OCI layout ("oci:DIR[:REF]"
//	          or the directory), a `docker save` tarball
//	runtime   /opt/mlship/bin/mlship and the native libraries the serving
//	          flavor loads (ONNX Runtime at /opt/mlship/lib, found as the
//	          onnx flavor finds it: internal/ortlib)
//	python    with Options.PythonEnv only: a prepared Python environment
//	          at /opt/mlship/python (PythonDir), below the runtime layer
//	model     the model directory at /opt/ml/model (ModelDir)
//
// and a configuration that runs `mlship serve /opt/ml/model` as user
// 65532:65532 on 0.0.0.0:8080 (MLSHIP_HOST, MLSHIP_PORT), with labels
// recording the model (uuid, run id, flavors, signature digest) and the
// base. The image honours SageMaker's container contract: `docker run IMAGE
// serve` serves /opt/ml/model, SAGEMAKER_BIND_TO_PORT moves the port, and
// SIGTERM drains within 30 s. The image runs mlship's command line, never
// this repository's Go packages: pack imports mlmodel, not serve.
//
// Builds are reproducible: entries are sorted, owned by root (but for the
// user's home), carry one timestamp (Options.Epoch, else the Unix epoch)
// and fixed modes, and gzip writes no name or time; the image's creation
// time is Options.Epoch, else the model's utc_time_created. The same inputs
// give the same digest, and a change to the model alone changes only the
// model layer, so a registry holding the previous image receives only that
// layer. Options.LayerCache keeps the base and runtime layers between
// builds (keyed by content hashes), so such a rebuild compresses only the
// model layer.
//
// Native flavors are packed by copying their runtimes (shared libraries).
// A model that would be served as python_function needs Options.PythonEnv,
// a prepared, self-contained Python environment (interpreter, standard
// library, packages) that goes in as a layer, with MLSHIP_PYTHON naming
// its interpreter; with the host base, the system libraries of its
// interpreter and of every shared object in it join the base. Without one,
// such a model gets a *FlavorError (errors.Is ErrNoNativeFlavor); the
// other way is pack/dockerfile's Dockerfile, which installs the
// environment.
//
// Publisher implementations put an image somewhere under a name and return
// the name pinned to its digest: Registry (any registry; credentials from
// the docker config and its credential helpers), Layout (an OCI image
// layout directory) and Tarball (`docker load`), combined by
// MultiPublisher.
//
// A deployer builds, publishes and deploys the digest:
//
//	img, err := pack.Build(ctx, pack.Options{Model: dir, Version: v})
//	...
//	ref, err := (&pack.Registry{}).Publish(ctx, img, name.MustParseReference("registry.example/iris:1"))
//	... deploy ref (registry.example/iris@sha256:...)
//
// The user-facing description is docs/images.md.
package pack
