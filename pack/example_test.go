package pack_test

import (
	"context"
	"fmt"
	"log"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/mlship/mlship/pack"
)

// Build an image for a model directory on this machine's C runtime and push
// it; deploy the digest reference it returns.
func ExampleBuild() {
	ctx := context.Background()
	img, err := pack.Build(ctx, pack.Options{
		Model:   "./model",
		Version: "1.0.0",
	})
	if err != nil {
		log.Fatal(err)
	}
	ref, err := name.ParseReference("registry.example/models/iris:1")
	if err != nil {
		log.Fatal(err)
	}
	pinned, err := pack.MultiPublisher{
		&pack.Registry{},                 // docker config credentials
		pack.Layout{Dir: "./oci-images"}, // and a copy on disk
	}.Publish(ctx, img, ref)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(pinned) // registry.example/models/iris@sha256:...
}
