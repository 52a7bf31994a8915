package mlproject_test

import (
	"context"
	"fmt"

	"github.com/mlship/mlship/projects/mlproject"
)

func ExampleEntryPoint_Resolve() {
	p, err := mlproject.Parse([]byte(`
name: tutorial
entry_points:
  main:
    parameters:
      alpha: float
      label: {type: string, default: "first run"}
    command: "python train.py --alpha {alpha} --label {label}"
`))
	if err != nil {
		panic(err)
	}
	inv, err := p.EntryPoints["main"].Resolve(context.Background(), "", []mlproject.KV{{Key: "alpha", Value: "0.5"}, {Key: "note", Value: "it's"}}, mlproject.ResolveOptions{})
	if err != nil {
		panic(err)
	}
	fmt.Println(inv.Command)
	fmt.Println(inv.AllParams())
	_, err = p.EntryPoints["main"].Resolve(context.Background(), "", []mlproject.KV{{Key: "alpha", Value: "high"}}, mlproject.ResolveOptions{})
	fmt.Println(err)
	// Output:
	// python train.py --alpha 0.5 --label 'first run' --note 'it'"'"'s'
	// [{alpha 0.5} {label first run} {note it's}]
	// Expected float for parameter alpha but got high
}

func ExampleSplit() {
	words, _ := mlproject.Split(`python train.py --label 'first run' --note 'it'"'"'s'`)
	fmt.Printf("%q\n", words)
	// Output: ["python" "train.py" "--label" "first run" "--note" "it's"]
}
