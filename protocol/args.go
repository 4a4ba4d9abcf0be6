package protocol

// parseArgs reads the arguments of the op whose verb p.op.Kind already
// holds; rest is the control line after the verb and body the offset in b
// where the line's payload (if any) starts. It returns as parseOp does.
func (p *Parser) parseArgs(b []byte, body int, rest []byte) (n, need int, err error) {
	switch p.op.Kind {
	case OpPub:
		return p.pub(b, body, rest)
	case OpHPub:
		return p.hpub(b, body, rest)
	case OpMsg:
		return p.msg(b, body, rest)
	case OpHMsg:
		return p.hmsg(b, body, rest)
	case OpRMsg:
		return p.rmsg(b, body, rest, false)
	case OpHRMsg:
		return p.rmsg(b, body, rest, true)
	case OpRSub:
		err = p.rsub(rest)
	case OpRUnsub:
		err = p.runsub(rest)
	case OpSub:
		err = p.sub(rest)
	case OpUnsub:
		err = p.unsub(rest)
	case OpConnect:
		err = p.json(rest, errConnectArgs)
	case OpInfo:
		err = p.json(rest, errInfoArgs)
	case OpErr:
		p.op.Args = unquote(trimBlanks(rest))
	case OpPing:
		err = noArgs(rest, errPingArgs)
	case OpPong:
		err = noArgs(rest, errPongArgs)
	case OpOK:
		err = noArgs(rest, errOKArgs)
	}
	if err != nil {
		return 0, 0, err
	}
	return body, 0, nil
}

// pub: PUB <subject> [reply] <size>
func (p *Parser) pub(b []byte, body int, rest []byte) (int, int, error) {
	var f [maxFields][]byte
	var size []byte
	switch fields(rest, &f) {
	case 2:
		p.op.Subject, size = f[0], f[1]
	case 3:
		p.op.Subject, p.op.Reply, size = f[0], f[1], f[2]
	default:
		return 0, 0, errPubArgs
	}
	return p.message(b, body, nil, size, errPubSize, nil)
}

// hpub: HPUB <subject> [reply] <hdr_size> <total_size>
func (p *Parser) hpub(b []byte, body int, rest []byte) (int, int, error) {
	var f [maxFields][]byte
	var hdr, total []byte
	switch fields(rest, &f) {
	case 3:
		p.op.Subject, hdr, total = f[0], f[1], f[2]
	case 4:
		p.op.Subject, p.op.Reply, hdr, total = f[0], f[1], f[2], f[3]
	default:
		return 0, 0, errHPubArgs
	}
	return p.message(b, body, hdr, total, errHPubSize, errHPubHdr)
}

// msg: MSG <subject> <sid> [reply] <size>
func (p *Parser) msg(b []byte, body int, rest []byte) (int, int, error) {
	var f [maxFields][]byte
	var size []byte
	switch fields(rest, &f) {
	case 3:
		p.op.Subject, p.op.Sid, size = f[0], f[1], f[2]
	case 4:
		p.op.Subject, p.op.Sid, p.op.Reply, size = f[0], f[1], f[2], f[3]
	default:
		return 0, 0, errMsgArgs
	}
	return p.message(b, body, nil, size, errMsgSize, nil)
}

// hmsg: HMSG <subject> <sid> [reply] <hdr_size> <total_size>
func (p *Parser) hmsg(b []byte, body int, rest []byte) (int, int, error) {
	var f [maxFields][]byte
	var hdr, total []byte
	switch fields(rest, &f) {
	case 4:
		p.op.Subject, p.op.Sid, hdr, total = f[0], f[1], f[2], f[3]
	case 5:
		p.op.Subject, p.op.Sid, p.op.Reply, hdr, total = f[0], f[1], f[2], f[3], f[4]
	default:
		return 0, 0, errHMsgArgs
	}
	return p.message(b, body, hdr, total, errHMsgSize, errHMsgHdr)
}

// message checks the sizes of a message op and then its payload framing.
// hdrTok is nil for ops without headers. MaxPayload is enforced here, on
// the control line, so an oversized message is refused before any of its
// payload is buffered.
func (p *Parser) message(b []byte, body int, hdrTok, totalTok []byte, errSize, errHdr error) (int, int, error) {
	total := parseNumber(totalTok)
	hdr := int64(0)
	if hdrTok != nil {
		hdr = parseNumber(hdrTok)
	}
	if total < 0 || hdr < 0 {
		return 0, 0, errSize
	}
	if hdr > total {
		return 0, 0, errHdr
	}
	if total > int64(p.lim.MaxPayload) {
		return 0, 0, ErrMaxPayload
	}
	p.op.HdrLen = int(hdr)
	return p.payload(b, body, int(total))
}

// sub: SUB <subject> [queue] <sid>
func (p *Parser) sub(rest []byte) error {
	var f [maxFields][]byte
	switch fields(rest, &f) {
	case 2:
		p.op.Subject, p.op.Sid = f[0], f[1]
	case 3:
		p.op.Subject, p.op.Queue, p.op.Sid = f[0], f[1], f[2]
	default:
		return errSubArgs
	}
	return nil
}

// unsub: UNSUB <sid> [max]
func (p *Parser) unsub(rest []byte) error {
	var f [maxFields][]byte
	switch fields(rest, &f) {
	case 1:
		p.op.Sid = f[0]
	case 2:
		p.op.Sid = f[0]
		if p.op.Max = parseNumber(f[1]); p.op.Max < 0 {
			return errUnsubMax
		}
	default:
		return errUnsubArgs
	}
	return nil
}

// json takes the rest of a CONNECT or INFO line as its JSON argument. The
// parser does not decode it: that is the caller's business, and off the hot
// path.
func (p *Parser) json(rest []byte, errEmpty error) error {
	p.op.Args = trimBlanks(rest)
	if len(p.op.Args) == 0 {
		return errEmpty
	}
	return nil
}

// noArgs rejects anything but blanks after PING, PONG and +OK.
func noArgs(rest []byte, errExtra error) error {
	if len(trimBlanks(rest)) != 0 {
		return errExtra
	}
	return nil
}

// unquote strips the single quotes around an -ERR text, if both are there.
func unquote(s []byte) []byte {
	if len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'' {
		return s[1 : len(s)-1 : len(s)-1]
	}
	return s
}
