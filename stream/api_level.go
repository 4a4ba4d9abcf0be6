package stream

import "strconv"

// APILevel is the JetStream API level the layer implements, reported in
// $JS.API.INFO's api.level (and, by the server, in INFO's api_lvl).
// Clients turn features on by it: level 1 is per-message TTL and
// consumer pause, 2 atomic batches, counters and schedules (nats-server
// 2.12), 3 a snapshot's window_size, 4 fast batch publishing (2.14).
// What a level brings that Wisp lacks is refused with an error, never
// accepted and ignored: docs/streams.md lists it.
const APILevel = 4

// hdrRequiredAPILevel asks the server to refuse a request (or a batch
// message) unless it implements at least that API level.
const hdrRequiredAPILevel = "Nats-Required-Api-Level"

// requiresHigherLevel reports whether hdr carries a required API level
// Wisp does not reach, or one that is not a number: nats-server refuses
// both with 412 / 10185.
func requiresHigherLevel(hdr []byte) bool {
	v := headerValue(hdr, hdrRequiredAPILevel)
	if len(v) == 0 {
		return false
	}
	n, err := strconv.Atoi(string(v))
	return err != nil || n > APILevel
}
