package protocol

import (
	"slices"
	"strconv"
)

// StatusNoResponders is the status code of the header-only message that
// tells a requester nobody is listening; nats.go turns it into
// ErrNoResponders.
const StatusNoResponders = 503

// AppendStatusHeader appends a header block that carries only a status:
// "NATS/1.0 503\r\n\r\n", or "NATS/1.0 404 No Messages\r\n\r\n" when
// description is not empty. Sent as the whole of an HMSG with hdrLen equal
// to its length, it is a status message (no responders, flow control,
// stream errors).
func AppendStatusHeader(dst []byte, code int, description string) []byte {
	n := len("NATS/1.0 ") + digits(code) + len("\r\n\r\n")
	if description != "" {
		n += 1 + len(description)
	}
	dst = slices.Grow(dst, n)
	dst = append(dst, "NATS/1.0 "...)
	dst = strconv.AppendInt(dst, int64(code), 10)
	if description != "" {
		dst = append(dst, ' ')
		dst = append(dst, description...)
	}
	return append(dst, "\r\n\r\n"...)
}
