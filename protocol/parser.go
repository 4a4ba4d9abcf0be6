package protocol

import (
	"bytes"
	"slices"
)

// Parser turns the bytes of one connection into Ops.
//
// Design. Almost every op arrives whole inside one read, so the fast path
// parses straight out of the caller's buffer: find the control line's '\n',
// read the arguments, and for a message op jump over the payload to check
// the two bytes after it are "\r\n" (the payload is never scanned). The Op
// handed to the Handler is a field of the Parser and its slices point into
// the buffer, so nothing is allocated per op.
//
// Only an op cut by the end of a read is copied: its head goes into scratch,
// and the next call appends just enough to finish it (up to the '\n', then
// the payload and its "\r\n" whose total length the control line gave),
// parses it from scratch, and carries on in the new buffer directly. So an op
// is copied at most once, and scratch, reused across calls, stops growing
// once it has held the largest op the limits allow.
type Parser struct {
	side   Side
	lim    Limits
	window int // bytes searched for a control line's '\n'; see SetLimits
	op     Op  // reused for every op, to keep Parse allocation-free

	scratch []byte // the head of an op split across Parse calls
	need    int    // length of the op in scratch once known, else 0
	err     error  // first error returned; Parse keeps returning it

	// The first bytes of the op that failed to parse, for the log: copied
	// when a parse error occurs, so that no other path pays for them.
	bad     [maxBadInput]byte
	nbad    int
	badMore bool // the op was longer than bad
}

// maxBadInput is how much of a malformed op BadInput keeps.
const maxBadInput = 64

// maxKeptScratch bounds the scratch buffer Reset keeps for reuse, so that a
// connection that once received a 1 MiB message split across reads does
// not hold a megabyte for the rest of its life after a Reset.
const maxKeptScratch = 64 << 10

// NewParser returns a parser for one side of a connection. Zero fields of
// lim take the defaults.
func NewParser(side Side, lim Limits) *Parser {
	p := &Parser{side: side}
	p.SetLimits(lim)
	return p
}

// SetLimits changes the limits from the next check on, e.g. once a client
// has authenticated or the configuration is reloaded. An op already held
// from an earlier call is checked against the new limits when it completes.
func (p *Parser) SetLimits(lim Limits) {
	p.lim = lim.withDefaults()
	// +2 leaves room for the "\r\n" after the longest allowed line; the
	// floor of longestVerb keeps a tiny limit from hiding the verb, which
	// must be known before the length is judged (see checkPartialLine).
	p.window = max(p.lim.MaxControlLine, longestVerb+1) + 2
}

// Reset forgets any partial op and any earlier error, so the parser can
// serve a new connection.
func (p *Parser) Reset() {
	p.clearScratch()
	p.err = nil
	p.op = Op{}
	p.nbad, p.badMore = 0, false
}

// BadInput returns up to the first 64 bytes of the op whose bytes made Parse
// fail (its control line and as much of its payload as fits), and whether
// the op went on beyond them; nil when Parse has not failed on bad bytes.
// It is for logging what a peer sent; the slice is valid until Reset.
func (p *Parser) BadInput() (b []byte, more bool) {
	return p.bad[:p.nbad], p.badMore
}

// badOp keeps the start of op, whose bytes made parsing fail with err, and
// returns err with the detail the -ERR text needs. Everything a failure
// costs is here, out of line, so that the loops that call it stay as small
// as the success path needs.
//
//go:noinline
func (p *Parser) badOp(err error, op []byte) error {
	p.nbad = copy(p.bad[:], op)
	p.badMore = len(op) > maxBadInput
	if err == ErrBadPayloadEnd {
		err = &payloadEndError{kind: p.op.Kind, size: announcedSize(op)}
	}
	return err
}

// announcedSize returns the size that the complete control line at the start
// of op ends with: the total size of PUB, HPUB, MSG and HMSG alike.
func announcedSize(op []byte) int {
	line := op[:bytes.IndexByte(op, '\n')]
	line = trimBlanks(line) // the '\r' and any blanks before it
	return int(parseNumber(line[bytes.LastIndexAny(line, " \t")+1:]))
}

// Pending returns how many bytes of an incomplete op the parser holds from
// earlier calls: zero means the stream so far ended on an op boundary.
func (p *Parser) Pending() int { return len(p.scratch) }

// Parse consumes one read's worth of bytes and calls h.HandleOp for every op
// completed by them, in order. Bytes of a trailing incomplete op are kept
// and finished by a later call. The Op and its slices are valid only until
// HandleOp returns.
//
// An empty line ("\r\n" or "\n" where a control line may start) is
// skipped without a call.
//
// Parse returns the first error from the bytes (ErrUnknownOp,
// ErrMaxControlLine, ErrMaxPayload, ErrBadArgs, ErrBadPayloadEnd) or from
// h, unchanged. Either way the stream is out of step from then on: every
// later call returns the same error until Reset.
func (p *Parser) Parse(buf []byte, h Handler) error {
	if p.err != nil {
		return p.err
	}
	if len(p.scratch) > 0 {
		used, err := p.resume(buf, h)
		if err != nil {
			return p.fail(err)
		}
		if len(p.scratch) > 0 { // still incomplete: resume took all of buf
			return nil
		}
		buf = buf[used:]
	}
	for len(buf) > 0 {
		n, need, err := p.parseOp(buf)
		if err != nil {
			return p.fail(p.badOp(err, buf))
		}
		if n == 0 {
			p.hold(buf, need)
			return nil
		}
		if p.op.Kind != 0 { // 0: an empty line
			if err := h.HandleOp(&p.op); err != nil {
				return p.fail(err)
			}
		}
		buf = buf[n:]
	}
	return nil
}

// hold copies the head of an incomplete op into scratch. When the op's
// length is already known, scratch is sized for all of it at once, so a
// large payload arriving in many reads is not re-copied by append growth.
func (p *Parser) hold(tail []byte, need int) {
	if c := max(need, len(tail)); cap(p.scratch) < c {
		p.scratch = make([]byte, 0, c)
	}
	p.scratch = append(p.scratch[:0], tail...)
	p.need = need
}

// resume feeds buf into the op held in scratch, delivering it if buf
// completes it. It returns how many bytes of buf it took: all of them when
// the op is still incomplete.
func (p *Parser) resume(buf []byte, h Handler) (int, error) {
	used := 0
	if p.need == 0 {
		// Take at most what the line may still grow to, and stop at
		// its '\n': bytes after that may belong to the payload, whose
		// length is not known yet.
		chunk := buf[:min(max(p.window-len(p.scratch), 0), len(buf))]
		if i := bytes.IndexByte(chunk, '\n'); i >= 0 {
			chunk = chunk[:i+1]
		}
		p.scratch = append(p.scratch, chunk...)
		used = len(chunk)
		n, need, err := p.parseOp(p.scratch)
		if err != nil || n > 0 {
			return used, p.deliver(h, err)
		}
		if need == 0 {
			// Still no '\n'. parseOp would have failed had the
			// line reached the window, so chunk was all of buf.
			return used, nil
		}
		p.need = need
		p.scratch = slices.Grow(p.scratch, need-len(p.scratch))
	}
	take := min(p.need-len(p.scratch), len(buf)-used)
	p.scratch = append(p.scratch, buf[used:used+take]...)
	used += take
	if len(p.scratch) < p.need {
		// The same early check as payload makes on a whole buffer,
		// so that where the read split cannot change the outcome.
		if len(p.scratch) == p.need-1 && p.scratch[p.need-2] != '\r' {
			return used, p.badOp(ErrBadPayloadEnd, p.scratch)
		}
		return used, nil
	}
	// Parsing the control line a second time costs less than keeping its
	// fields across calls, and happens once per split op.
	_, _, err := p.parseOp(p.scratch)
	return used, p.deliver(h, err)
}

// deliver hands the op completed in scratch to h (unless parsing it failed)
// and empties scratch for the next split op.
func (p *Parser) deliver(h Handler, err error) error {
	switch {
	case err != nil:
		err = p.badOp(err, p.scratch)
	case p.op.Kind != 0: // 0: an empty line
		err = h.HandleOp(&p.op)
	}
	p.scratch = p.scratch[:0]
	p.need = 0
	return err
}

// fail records err so that later calls return it too, and lets go of
// scratch: a failed connection is about to be closed.
func (p *Parser) fail(err error) error {
	p.err = err
	p.clearScratch()
	return err
}

func (p *Parser) clearScratch() {
	if cap(p.scratch) > maxKeptScratch {
		p.scratch = nil
	}
	p.scratch = p.scratch[:0]
	p.need = 0
}
