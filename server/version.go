package server

import "runtime"

// NATSVersion is what INFO's and /varz's "version" say: the nats-server
// release whose client-visible behaviour Wisp implements, as a semver that
// clients compare. It is not Wisp's own version (that is Version), because
// clients gate features on this field: nats.go's KeyValue and object store
// need at least 2.6.2, its named consumer create 2.9.0, natscli's account
// info 2.10.0, and a git hash in its place turns those features off.
//
// What it promises: the core protocol and the JetStream API calls Wisp
// serves behave, on the wire, as nats-server 2.14's do (the newest call
// Wisp serves, consumer reset, is 2.14's; consumer pause is 2.11's,
// filter_subjects 2.10's). What it does not promise: every feature up to
// 2.14. Stream and consumer options Wisp lacks (docs/streams.md and
// docs/consumers.md list what it has) are refused with a JetStream error
// rather than ignored, and the
// JetStream features clients gate on the API level go by JetStreamAPILevel,
// not by this. One known gap answers with silence instead of an error:
// message tracing (2.11's Nats-Trace-Dest header) is not implemented, so
// "nats trace" waits for its timeout. Raise this only to the release that
// introduced the newest client-visible behaviour Wisp implements.
const NATSVersion = "2.14.0"

// JetStreamAPILevel is INFO's "api_lvl" when streams are on: the JetStream
// API level Wisp's stream layer implements, the same figure its
// $JS.API.INFO reply carries in api.level (stream.APILevel; cmd/wisp's
// tests check the two agree). Level 1 is consumer pause; level 2 is atomic
// batch publish and counters (2.12, which also brought message
// schedules); level 3 a snapshot's window_size; level 4 fast batch
// publish (2.14). Of level 4, a source's durable consumer and the
// flow_control ack policy are not implemented: they are refused with an
// error (docs/streams.md, docs/consumers.md).
const JetStreamAPILevel = 4

// Version is Wisp's own version, reported in INFO and /varz as
// "wisp_version" and by wisp --version; cmd/wisp sets it from the build.
var Version = "0.1.0-dev"

// GitCommit is the commit Wisp was built from ("git_commit" in INFO and
// /varz, as nats-server names it), or empty when the build does not say.
var GitCommit = ""

// goVersion is reported in INFO as nats-server does.
var goVersion = runtime.Version()
