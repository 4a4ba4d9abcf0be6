//go:build race

package stream_test

// raceEnabled says the race detector slows everything down (about 10x on
// the consumer hot paths); timing-bound tests scale their budgets by it.
const raceEnabled = true
