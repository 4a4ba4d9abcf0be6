//go:build race

package server

// raceEnabled is set when the race detector is on. Allocation assertions are
// skipped then: it makes sync.Pool drop items on purpose. `make test` runs
// them again without -race.
const raceEnabled = true
