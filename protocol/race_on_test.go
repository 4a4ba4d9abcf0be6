//go:build race

package protocol

// raceEnabled lets allocation checks that the race detector's
// instrumentation perturbs (slices.Grow is not optimised the same way under
// -race) be skipped there; the zero-allocation hot-path checks still run.
const raceEnabled = true
