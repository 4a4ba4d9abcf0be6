// Package protocol reads and writes the NATS client protocol: the text
// framing that NATS clients (nats.go and the rest) and a person at a telnet
// prompt speak to a server.
//
// It holds only the byte handling. A Parser turns the bytes of one
// connection into Ops (PUB, SUB, MSG, ...) and hands each to a Handler; the
// Append functions write ops into a caller's buffer. Sockets, buffering
// policy, subjects, subscriptions and authentication belong to the callers
// (the server and the benchmark client), which is what lets everything here
// be tested by feeding it bytes.
//
// # Wire format
//
// Every op starts with a control line: a verb, matched without regard to
// case, then arguments separated by any run of spaces or tabs, ended by
// "\r\n" or a bare "\n" (what nc sends; telnet sends "\r\n"). An empty
// line where a control line may start is skipped, so a person at a prompt
// can press Enter twice; nats-server closes the connection for one, and no
// client sends them. Message ops (PUB, HPUB, MSG, HMSG) give a size on that
// line, and exactly that many bytes follow it, then "\r\n" with no leeway. HPUB and HMSG carry a header block
// ("NATS/1.0\r\nKey: Value\r\n\r\n") in front of the payload; the two are
// contiguous in Op.Data and Op.HdrLen says where one ends.
//
// # Ownership of slices
//
// The parser never copies an op that arrives whole: every slice in the Op
// passed to HandleOp points into the buffer given to Parse, or, for an op
// that straddled two calls, into the parser's scratch buffer, and the Op
// itself is reused. So an Op and all its slices are valid only until
// HandleOp returns. A handler that keeps a subject, a payload or the Op
// must copy it; one that only forwards the bytes (into an output buffer,
// say) need not. The slices have their capacity trimmed, so appending to
// one can never overwrite the bytes after it.
//
// The parser keeps nothing of the caller's buffer after Parse returns: the
// caller may reuse it at once.
//
// # Errors
//
// Parse returns sentinel errors (ErrUnknownOp, ErrMaxControlLine,
// ErrMaxPayload, ErrBadArgs, ErrBadPayloadEnd) to test with errors.Is, and
// ErrText gives the -ERR text to send for each; Parser.BadInput keeps the
// start of the op that failed, for a log line. Every one of them ends the
// connection, as in nats-server: after a framing error nobody can tell where
// the next op starts. The -ERR texts clients match on are constants here,
// written once.
//
// # What it must never do
//
//   - Allocate per op. Parsing a buffer of whole ops allocates nothing;
//     a split op is copied once into scratch that is reused. The encoders
//     allocate only when dst lacks room. Tests hold both to zero with
//     testing.AllocsPerRun.
//   - Scan a payload. Its size is on the control line; the parser jumps to
//     the end and checks two bytes, so a 1 MiB message costs what a 16-byte
//     one does (unless a read splits it, when it is copied once).
//   - Buffer without bound. MaxControlLine is enforced before a line's
//     '\n' arrives and MaxPayload on the control line, before the payload.
//   - Block, start goroutines or touch the network, the clock or the disk.
//     A Parser belongs to one connection and is not safe for concurrent use.
package protocol
