// Package builtin registers every flavor compiled into this build with
// flavors.Default, through blank imports (one file per flavor), as
// Prometheus' discovery/install does. Import it for its side effect.
package builtin
