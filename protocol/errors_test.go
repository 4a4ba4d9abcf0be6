package protocol

import (
	"errors"
	"fmt"
	"testing"
)

func TestErrText(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{errors.New("handler failed"), ""},
		{ErrUnknownOp, "Unknown Protocol Operation"},
		{ErrBadPayloadEnd, "Parse Error: payload must be followed by CRLF"},
		{&payloadEndError{OpPub, 5}, "Parse Error: PUB payload must be followed by CRLF after the 5 bytes announced"},
		{&payloadEndError{OpHMsg, 1}, "Parse Error: HMSG payload must be followed by CRLF after the 1 byte announced"},
		{ErrMaxPayload, "Maximum Payload Violation"},
		{ErrMaxControlLine, "maximum control line exceeded"},
		{errSubArgs, "Parse Error: SUB needs <subject> [queue] <sid>"},
		{fmt.Errorf("conn 7: %w", ErrMaxPayload), "Maximum Payload Violation"},
	} {
		if got := ErrText(tc.err); got != tc.want {
			t.Errorf("ErrText(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// The texts clients match on, pinned here so an edit to errors.go that
// changes one shows up as a failing test, not as a confused client.
func TestErrTextsMatchNatsServer(t *testing.T) {
	for got, want := range map[string]string{
		ErrTextUnknownOp:           "Unknown Protocol Operation",
		ErrTextMaxPayload:          "Maximum Payload Violation",
		ErrTextMaxControlLine:      "maximum control line exceeded",
		ErrTextAuthViolation:       "Authorization Violation",
		ErrTextAuthTimeout:         "Authentication Timeout",
		ErrTextMaxConnections:      "maximum connections exceeded",
		ErrTextStaleConnection:     "Stale Connection",
		ErrTextInvalidSubject:      "Invalid Subject",
		ErrTextInvalidPubSubject:   "Invalid Publish Subject",
		ErrTextMaxSubscriptions:    "maximum subscriptions exceeded",
		ErrTextTLSRequired:         "Secure Connection - TLS Required",
		ErrTextNoRespondersHeaders: "no responders requires headers support",
	} {
		if got != want {
			t.Errorf("-ERR text %q, want %q", got, want)
		}
	}
}
