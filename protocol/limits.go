package protocol

// Side says which half of a conversation a Parser reads. The two halves share
// PING and PONG but nothing else, so an op from the wrong half is treated as
// garbage (ErrUnknownOp) rather than silently accepted.
type Side uint8

const (
	// ServerSide parses what clients send: CONNECT, PUB, HPUB, SUB, UNSUB,
	// PING, PONG.
	ServerSide Side = iota
	// ClientSide parses what servers send: INFO, MSG, HMSG, PING, PONG, +OK,
	// -ERR. Tests and the benchmark client use it.
	ClientSide
	// RouteSide parses what another Wisp server of the cluster sends on a
	// route: INFO, CONNECT, PING, PONG, -ERR, RS+, RS-, RMSG and HRMSG
	// (see route.go). Client ops such as PUB and SUB are unknown there, so
	// a client that dials a route port is refused at its first op.
	RouteSide
)

// Defaults match nats-server's, so clients tuned for it see the same limits.
const (
	DefaultMaxControlLine = 4096
	DefaultMaxPayload     = 1 << 20
)

// Limits bound what one op may make the parser hold. Both are enforced while
// parsing, before the bytes they limit have arrived, so a hostile peer cannot
// make the parser buffer more than about MaxControlLine + MaxPayload bytes.
type Limits struct {
	// MaxControlLine is the longest control line (the op's first line,
	// without its \r\n) accepted. Zero or negative means DefaultMaxControlLine.
	MaxControlLine int
	// MaxPayload is the largest message (headers plus payload) accepted in
	// PUB, HPUB, MSG and HMSG. Zero or negative means DefaultMaxPayload.
	MaxPayload int
}

// withDefaults fills unset limits, keeping the "zero value means default"
// rule in one place.
func (l Limits) withDefaults() Limits {
	if l.MaxControlLine <= 0 {
		l.MaxControlLine = DefaultMaxControlLine
	}
	if l.MaxPayload <= 0 {
		l.MaxPayload = DefaultMaxPayload
	}
	return l
}
