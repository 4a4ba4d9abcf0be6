package protocol

import (
	"errors"
	"fmt"
	"strings"
)

// Errors a Parser returns. Each is final: the server answers with the -ERR
// text ErrText gives and closes the connection, because after a framing
// error there is no telling where the next op starts. Callers test them with
// errors.Is; ErrBadArgs always arrives wrapped with a detail that names the
// problem.
var (
	ErrUnknownOp      = errors.New("unknown protocol operation")
	ErrMaxControlLine = errors.New("maximum control line exceeded")
	ErrMaxPayload     = errors.New("maximum payload exceeded")
	ErrBadArgs        = errors.New("invalid arguments")
	ErrBadPayloadEnd  = errors.New("payload not followed by CRLF")
)

// The -ERR texts nats-server sends, word for word and case for case: clients
// match on them (nats.go decides whether to reconnect from the text), so they
// live here once and are never retyped elsewhere.
const (
	// Sent, then the connection is closed.
	ErrTextUnknownOp           = "Unknown Protocol Operation"
	ErrTextMaxPayload          = "Maximum Payload Violation"
	ErrTextMaxControlLine      = "maximum control line exceeded"
	ErrTextAuthViolation       = "Authorization Violation"
	ErrTextAuthTimeout         = "Authentication Timeout"
	ErrTextMaxConnections      = "maximum connections exceeded"
	ErrTextStaleConnection     = "Stale Connection"
	ErrTextTLSRequired         = "Secure Connection - TLS Required"
	ErrTextNoRespondersHeaders = "no responders requires headers support"
	ErrTextMaxAccountConns     = "maximum account active connections exceeded"

	// Sent, and the connection is kept.
	ErrTextInvalidSubject    = "Invalid Subject"
	ErrTextInvalidPubSubject = "Invalid Publish Subject"
	ErrTextMaxSubscriptions  = "maximum subscriptions exceeded"
)

// Permission violations keep the connection; the text names the subject in
// double quotes, as nats-server does, and nats.go matches the prefix
// "permissions violation" case-insensitively.
const (
	ErrTextPubViolationPrefix = "Permissions Violation for Publish to "
	ErrTextSubViolationPrefix = "Permissions Violation for Subscription to "
)

// ErrTextPubViolation is the -ERR text for a PUB the user may not send.
func ErrTextPubViolation(subject string) string {
	return ErrTextPubViolationPrefix + `"` + subject + `"`
}

// ErrTextSubViolation is the -ERR text for a SUB the user may not make.
func ErrTextSubViolation(subject string) string {
	return ErrTextSubViolationPrefix + `"` + subject + `"`
}

// errTextParsePrefix starts the text for malformed arguments. nats-server
// has no fixed text for these; ours names the problem so a telnet user can
// see what they mistyped.
const errTextParsePrefix = "Parse Error: "

// ErrText returns the -ERR text the server sends for a Parse error, or ""
// when err is not one (for example, an error from the caller's Handler). A
// payload without its CRLF gets a text that says so and how many bytes were
// announced, where nats-server sends 'Unknown Protocol Operation': the one
// who gets it is typically a person at a telnet prompt who miscounted.
func ErrText(err error) string {
	var pe *payloadEndError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &pe):
		return fmt.Sprintf("%s%s payload must be followed by CRLF after the %s announced", errTextParsePrefix, pe.kind, pe.bytes())
	case errors.Is(err, ErrBadPayloadEnd):
		return errTextParsePrefix + "payload must be followed by CRLF"
	case errors.Is(err, ErrUnknownOp):
		return ErrTextUnknownOp
	case errors.Is(err, ErrMaxPayload):
		return ErrTextMaxPayload
	case errors.Is(err, ErrMaxControlLine):
		return ErrTextMaxControlLine
	case errors.Is(err, ErrBadArgs):
		detail := strings.TrimPrefix(err.Error(), ErrBadArgs.Error()+": ")
		return errTextParsePrefix + detail
	}
	return ""
}

// badArgs builds an ErrBadArgs with a fixed detail once, at start-up, so
// that rejecting a malformed line does not allocate either. The details
// never echo client bytes: they end up inside a quoted -ERR line.
func badArgs(detail string) error {
	return fmt.Errorf("%w: %s", ErrBadArgs, detail)
}

var (
	errPubArgs     = badArgs("PUB needs <subject> [reply] <size>")
	errPubSize     = badArgs("PUB size must be a non-negative integer")
	errHPubArgs    = badArgs("HPUB needs <subject> [reply] <hdr_size> <total_size>")
	errHPubSize    = badArgs("HPUB sizes must be non-negative integers")
	errHPubHdr     = badArgs("HPUB header size exceeds total size")
	errSubArgs     = badArgs("SUB needs <subject> [queue] <sid>")
	errUnsubArgs   = badArgs("UNSUB needs <sid> [max]")
	errUnsubMax    = badArgs("UNSUB max must be a non-negative integer")
	errConnectArgs = badArgs("CONNECT needs a JSON object")
	errInfoArgs    = badArgs("INFO needs a JSON object")
	errMsgArgs     = badArgs("MSG needs <subject> <sid> [reply] <size>")
	errMsgSize     = badArgs("MSG size must be a non-negative integer")
	errHMsgArgs    = badArgs("HMSG needs <subject> <sid> [reply] <hdr_size> <total_size>")
	errHMsgSize    = badArgs("HMSG sizes must be non-negative integers")
	errHMsgHdr     = badArgs("HMSG header size exceeds total size")
	errPingArgs    = badArgs("PING takes no arguments")
	errPongArgs    = badArgs("PONG takes no arguments")
	errOKArgs      = badArgs("+OK takes no arguments")
)

// payloadEndError is ErrBadPayloadEnd with the op and the payload size its
// control line announced. Only a connection about to be closed builds one.
type payloadEndError struct {
	kind Kind
	size int
}

func (e *payloadEndError) Error() string {
	return fmt.Sprintf("%v: %s announced %s", ErrBadPayloadEnd, e.kind, e.bytes())
}

// bytes is the announced size in words: "1 byte", "5 bytes".
func (e *payloadEndError) bytes() string {
	if e.size == 1 {
		return "1 byte"
	}
	return fmt.Sprintf("%d bytes", e.size)
}

func (e *payloadEndError) Unwrap() error { return ErrBadPayloadEnd }
