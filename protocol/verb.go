package protocol

// longestVerb is len("CONNECT"). A verb token that grows past it cannot be
// known, which lets the parser reject garbage before a line is complete.
const longestVerb = 7

// Verbs are matched a word at a time: the token's bytes are packed into an
// integer with 0x20 or-ed into each, which lower-cases ASCII letters, and
// the switch compares against the packed lower-case verbs. For letters the
// or-ing is exact (only 'P' and 'p' become 'p'); the first bytes of +OK and
// -ERR are not letters, so they are checked as they are.
func pack3(a, b, c byte) uint32    { return uint32(a)<<16 | uint32(b)<<8 | uint32(c) }
func pack4(a, b, c, d byte) uint32 { return uint32(a)<<24 | pack3(b, c, d) }

// lookupVerb returns the Kind a verb token names, ignoring case, or 0.
func lookupVerb(tok []byte) Kind {
	switch len(tok) {
	case 3:
		switch pack3(tok[0], tok[1], tok[2]) | 0x202020 {
		case 'p'<<16 | 'u'<<8 | 'b':
			return OpPub
		case 's'<<16 | 'u'<<8 | 'b':
			return OpSub
		case 'm'<<16 | 's'<<8 | 'g':
			return OpMsg
		case 'r'<<16 | 's'<<8 | '+':
			if tok[2] == '+' {
				return OpRSub
			}
		case 'r'<<16 | 's'<<8 | '-':
			if tok[2] == '-' {
				return OpRUnsub
			}
		case '+'<<16 | 'o'<<8 | 'k':
			if tok[0] == '+' {
				return OpOK
			}
		}
	case 4:
		switch pack4(tok[0], tok[1], tok[2], tok[3]) | 0x20202020 {
		case 'h'<<24 | 'p'<<16 | 'u'<<8 | 'b':
			return OpHPub
		case 'h'<<24 | 'm'<<16 | 's'<<8 | 'g':
			return OpHMsg
		case 'p'<<24 | 'i'<<16 | 'n'<<8 | 'g':
			return OpPing
		case 'p'<<24 | 'o'<<16 | 'n'<<8 | 'g':
			return OpPong
		case 'i'<<24 | 'n'<<16 | 'f'<<8 | 'o':
			return OpInfo
		case '-'<<24 | 'e'<<16 | 'r'<<8 | 'r':
			if tok[0] == '-' {
				return OpErr
			}
		case 'r'<<24 | 'm'<<16 | 's'<<8 | 'g':
			return OpRMsg
		}
	case 5:
		if pack4(tok[0], tok[1], tok[2], tok[3])|0x20202020 == 'u'<<24|'n'<<16|'s'<<8|'u' &&
			tok[4]|0x20 == 'b' {
			return OpUnsub
		}
		if pack4(tok[0], tok[1], tok[2], tok[3])|0x20202020 == 'h'<<24|'r'<<16|'m'<<8|'s' &&
			tok[4]|0x20 == 'g' {
			return OpHRMsg
		}
	case longestVerb:
		if pack4(tok[0], tok[1], tok[2], tok[3])|0x20202020 == 'c'<<24|'o'<<16|'n'<<8|'n' &&
			pack3(tok[4], tok[5], tok[6])|0x202020 == 'e'<<16|'c'<<8|'t' {
			return OpConnect
		}
	}
	return 0
}

// sideKinds holds, per Side, a bit for each Kind that side may receive.
var sideKinds = [...]uint32{
	ServerSide: 1<<OpConnect | 1<<OpPub | 1<<OpHPub | 1<<OpSub | 1<<OpUnsub | 1<<OpPing | 1<<OpPong,
	ClientSide: 1<<OpInfo | 1<<OpMsg | 1<<OpHMsg | 1<<OpPing | 1<<OpPong | 1<<OpOK | 1<<OpErr,
	RouteSide: 1<<OpInfo | 1<<OpConnect | 1<<OpPing | 1<<OpPong | 1<<OpErr |
		1<<OpRSub | 1<<OpRUnsub | 1<<OpRMsg | 1<<OpHRMsg,
}

// accepts reports whether k is an op this side receives. An out-of-range
// Side accepts nothing rather than panicking.
func (s Side) accepts(k Kind) bool {
	return int(s) < len(sideKinds) && sideKinds[s]&(1<<k) != 0
}

// String returns the verb as it appears on the wire, for logs and tests.
func (k Kind) String() string {
	switch k {
	case OpConnect:
		return "CONNECT"
	case OpPub:
		return "PUB"
	case OpHPub:
		return "HPUB"
	case OpSub:
		return "SUB"
	case OpUnsub:
		return "UNSUB"
	case OpPing:
		return "PING"
	case OpPong:
		return "PONG"
	case OpInfo:
		return "INFO"
	case OpMsg:
		return "MSG"
	case OpHMsg:
		return "HMSG"
	case OpOK:
		return "+OK"
	case OpErr:
		return "-ERR"
	case OpRSub:
		return "RS+"
	case OpRUnsub:
		return "RS-"
	case OpRMsg:
		return "RMSG"
	case OpHRMsg:
		return "HRMSG"
	}
	return "Kind(?)"
}
