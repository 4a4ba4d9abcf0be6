package stream

import (
	"encoding/json"
	"strconv"
	"strings"
)

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

// refuseForLevel answers an API request whose Nats-Required-Api-Level Wisp
// does not reach, as nats-server does: a pull request or a direct get with
// a "412 Required Api Level" status, any other request with its JSON
// response carrying 412 / 10185. It reports whether it answered.
func (svc *Service) refuseForLevel(subject, reply string, hdr []byte) bool {
	if len(hdr) == 0 || !requiresHigherLevel(hdr) {
		return false
	}
	rest := strings.TrimPrefix(subject, apiPrefix)
	if strings.HasPrefix(rest, "DIRECT.GET.") || strings.HasPrefix(rest, "CONSUMER.MSG.NEXT.") {
		_ = svc.broker.Publish(reply, "", statusHeader("412 Required Api Level"), nil)
		return true
	}
	svc.apiTotal.Add(1)
	svc.apiErrors.Add(1)
	out, _ := json.Marshal(errResponse(responseType(rest), apiErr(errRequiredAPILevel)))
	_ = svc.broker.Publish(reply, "", nil, out)
	return true
}

// responseType is the type name of the JSON reply to an API request
// (subject without $JS.API.), as nats-server names it.
func responseType(rest string) string {
	if rest == "INFO" {
		return typeAccountInfo
	}
	words := func(op string) string {
		return typePrefix + strings.ToLower(strings.ReplaceAll(op, ".", "_")) + "_response"
	}
	if op, _, ok := splitAPI(rest); ok {
		return words(op)
	}
	tok := strings.Split(rest, ".")
	switch {
	case rest == "STREAM.NAMES" || rest == "STREAM.LIST":
		return words(rest)
	case len(tok) >= 3 && tok[0] == "STREAM" && (tok[1] == "SNAPSHOT" || tok[1] == "RESTORE"):
		return words(tok[0] + "." + tok[1])
	case len(tok) >= 3 && tok[0] == "CONSUMER":
		switch tok[1] {
		case "DURABLE":
			return words("CONSUMER.CREATE")
		case "LEADER":
			return words("CONSUMER.LEADER.STEPDOWN")
		}
		return words(tok[0] + "." + tok[1])
	}
	return typeUnknownAPIRequest
}
