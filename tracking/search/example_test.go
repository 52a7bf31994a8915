package search_test

import (
	"fmt"

	"github.com/mlship/mlship/tracking"
	"github.com/mlship/mlship/tracking/search"
)

func ExampleParseRunFilter() {
	f, err := search.ParseRunFilter("metrics.accuracy > 0.9 and `Run name` LIKE 'sweep-%'")
	if err != nil {
		panic(err)
	}
	for _, c := range f {
		fmt.Printf("%s %q %s numeric=%v number=%v string=%q\n", c.Entity, c.Key, c.Op, c.Numeric, c.Number, c.String)
	}
	fmt.Println(f)

	run := &tracking.Run{
		Info: tracking.RunInfo{RunName: "sweep-7"},
		Data: tracking.RunData{Metrics: []tracking.Metric{{Key: "accuracy", Value: 0.93}}},
	}
	fmt.Println(f.MatchRun(run))

	_, err = search.ParseRunFilter("metrics.accuracy > 0.9 or metrics.loss < 0.1")
	fmt.Println(tracking.CodeOf(err), err)
	// Output:
	// metric "accuracy" > numeric=true number=0.9 string=""
	// attribute "run_name" LIKE numeric=false number=0 string="sweep-%"
	// metric.accuracy > 0.9 AND attribute.run_name LIKE 'sweep-%'
	// true
	// INVALID_PARAMETER_VALUE Invalid clause(s) in filter string: 'or'
}

func ExampleDecodePageToken() {
	tok := search.EncodePageToken(1000)
	off, err := search.DecodePageToken(tok)
	fmt.Println(tok, off, err)
	_, err = search.DecodePageToken("not-a-token")
	fmt.Println(err)
	// Output:
	// eyJvZmZzZXQiOiAxMDAwfQ== 1000 <nil>
	// Invalid page token, could not base64-decode
}
