package protocol

import "bytes"

// parseOp parses the op at the start of b into p.op. It returns the op's
// length n when b holds all of it. When b ends first it returns n == 0, with
// need set to the op's full length if the control line is complete (a
// message op waiting for its payload) and 0 if the line itself is not.
//
// The checks run in one fixed order, verb, then line length, then
// arguments, then payload framing, and the partial-line checks follow the
// same order. That is what makes the result independent of where reads
// split the stream: a check that fires early on a partial line fires with
// the same error on the whole line.
func (p *Parser) parseOp(b []byte) (n, need int, err error) {
	search := b
	if len(search) > p.window {
		search = search[:p.window]
	}
	eol := bytes.IndexByte(search, '\n')
	if eol < 0 {
		return 0, 0, p.checkPartialLine(search)
	}
	line := b[:eol]
	if eol > 0 && line[eol-1] == '\r' {
		line = line[:eol-1]
	}
	if len(line) == 0 {
		// An empty line, as a telnet user makes by pressing Enter twice,
		// is skipped: an Op of Kind 0 that Parse does not hand over.
		// nats-server closes the connection instead; no client can tell.
		p.op = Op{}
		return eol + 1, 0, nil
	}
	v := verbEnd(line)
	kind := lookupVerb(line[:v])
	if !p.side.accepts(kind) {
		return 0, 0, ErrUnknownOp
	}
	if len(line) > p.lim.MaxControlLine {
		return 0, 0, ErrMaxControlLine
	}
	p.op = Op{Kind: kind}
	return p.parseArgs(b, eol+1, line[v:])
}

// checkPartialLine fails a control line that has no '\n' yet but can
// already be seen to be bad: a verb that is unknown (or longer than any
// verb), or a line already longer than MaxControlLine. This is what stops a
// peer from making the parser buffer an endless line.
func (p *Parser) checkPartialLine(b []byte) error {
	if len(b) == 1 && b[0] == '\r' {
		return nil // perhaps an empty line, when its '\n' comes
	}
	v := verbEnd(b)
	if v == len(b) { // the verb may still be growing
		if v > longestVerb {
			return ErrUnknownOp
		}
		return nil
	}
	if !p.side.accepts(lookupVerb(b[:v])) {
		return ErrUnknownOp
	}
	// A final '\r' may be half of the line's "\r\n", so it may not count.
	least := len(b)
	if b[len(b)-1] == '\r' {
		least--
	}
	if least > p.lim.MaxControlLine {
		return ErrMaxControlLine
	}
	return nil
}

// payload finishes a message op whose data starts at b[body:] and is size
// bytes long. It looks only at the two bytes after the data, so the cost of
// a message does not depend on its size.
func (p *Parser) payload(b []byte, body, size int) (n, need int, err error) {
	end := body + size
	if len(b) < end+2 {
		if len(b) > end && b[end] != '\r' {
			// Fail now rather than wait for a byte that cannot help:
			// a telnet user who ended the payload with a bare \n
			// gets the error instead of a silent hang.
			return 0, 0, ErrBadPayloadEnd
		}
		return 0, end + 2, nil
	}
	if b[end] != '\r' || b[end+1] != '\n' {
		return 0, 0, ErrBadPayloadEnd
	}
	p.op.Data = b[body:end:end]
	return end + 2, 0, nil
}
