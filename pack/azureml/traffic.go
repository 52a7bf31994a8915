package azureml

import (
	"fmt"
	"maps"
	"slices"
	"sort"
)

// trafficPlan is how a deployment changes an endpoint's traffic.
type trafficPlan struct {
	// All sends all traffic to the deployment (az ml's --all-traffic).
	All bool
	// Percent, when Set, gives the deployment that share and scales the
	// other deployments' shares to fill the rest.
	Percent int
	Set     bool
}

// nextTraffic computes an endpoint's traffic after deployment dep is in
// place, with az ml's semantics:
//
//   - All: dep takes 100%, every other deployment 0%.
//   - Percent p: dep takes p%; the other deployments share 100-p in
//     proportion to their current shares (largest remainder, so the sum is
//     exactly 100); it is an error when they take no traffic and p < 100.
//   - neither: an endpoint without traffic (a new one) sends 100% to dep;
//     otherwise traffic is unchanged and dep starts with 0% (blue/green:
//     shift it later with --traffic-percent or --all-traffic).
//
// changed is false when the result equals cur.
func nextTraffic(cur map[string]int32, dep string, plan trafficPlan) (next map[string]int32, changed bool, err error) {
	others := map[string]int32{}
	var sumOthers int64
	for k, v := range cur {
		if k == dep {
			continue
		}
		others[k] = v
		sumOthers += int64(v)
	}
	total := sumOthers + int64(cur[dep])
	switch {
	case plan.All, !plan.Set && total == 0, plan.Set && plan.Percent == 100:
		next = map[string]int32{dep: 100}
		for k := range others {
			next[k] = 0
		}
	case !plan.Set:
		return maps.Clone(cur), false, nil
	default:
		p := plan.Percent
		if p < 0 || p > 100 {
			return nil, false, fmt.Errorf("traffic percent %d is not between 0 and 100", p)
		}
		rest := int64(100 - p)
		if sumOthers == 0 {
			return nil, false, fmt.Errorf("cannot give deployment %q %d%% of the traffic: no other deployment takes traffic to carry the remaining %d%% (use --all-traffic or 100)", dep, p, rest)
		}
		next = map[string]int32{dep: int32(p)}
		names := slices.Sorted(maps.Keys(others))
		type share struct {
			name string
			rem  int64
		}
		var shares []share
		var given int64
		for _, n := range names {
			num := rest * int64(others[n])
			q := num / sumOthers
			next[n] = int32(q)
			given += q
			shares = append(shares, share{n, num % sumOthers})
		}
		sort.SliceStable(shares, func(i, j int) bool { return shares[i].rem > shares[j].rem })
		for i := 0; given < rest; i++ {
			next[shares[i%len(shares)].name]++
			given++
		}
	}
	return next, !maps.Equal(normalize(cur), normalize(next)), nil
}

// normalize drops zero shares: an absent deployment takes no traffic.
func normalize(t map[string]int32) map[string]int32 {
	n := map[string]int32{}
	for k, v := range t {
		if v != 0 {
			n[k] = v
		}
	}
	return n
}
