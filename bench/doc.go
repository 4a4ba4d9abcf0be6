// Package bench is Wisp's load generator: the engine behind "wisp bench".
//
// It runs standard scenarios (pub, pubsub, fanout, queue, reqrep,
// reqrep-par, wildcard, conn, js-pub, js-pub-async, js-consume) against any
// server that speaks the NATS client protocol, using nats.go as the client,
// and reports throughput, latency percentiles from an HDR histogram, and,
// where the server is a local child process, its CPU seconds per million
// messages and peak RSS.
//
// # Model
//
// A Target is where a scenario runs: an embedded Wisp in this process, a
// fixed URL, or a server binary started afresh for every run on a free
// loopback port (targets.go). A Scenario (scenario.go) is a function that
// is handed a URL and an Env with the limits of the run; it drives load,
// checks its own correctness (counts, exactly-once, acks) and returns a
// Result. Run (run.go) runs each chosen scenario on each target, A B A B
// when comparing, and gathers the Results into a Report, which renders as
// text tables, JSON, or a self-contained HTML page with SVG charts
// (report.go, text.go, html.go, axis.go). A measured phase under a second
// is warned about (short.go). On a terminal one status line follows the
// whole invocation with an estimate of the time left (status.go,
// progress.go).
//
// # Rules it keeps
//
//   - Every loop is bounded both by a count and by a time cap
//     (Config.Duration per scenario), so a stuck or lossy server turns into
//     a reported error, never a hang.
//   - It only ever connects to and starts servers on 127.0.0.1, unless the
//     user names a --server URL.
//   - A scenario that finds fewer, duplicated or unacknowledged messages
//     reports an error even if its rate looks good: a fast wrong server is
//     not a result.
//   - It never imports the stream layer: an embedded server with streams
//     comes from the caller through Config.StartEmbedded, so this package
//     depends only on the core server.
package bench
