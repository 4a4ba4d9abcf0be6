package protocol

// The route ops carry core messaging between the servers of a cluster. They
// follow the shape of nats-server's route protocol: interest travels as
// per-account RS+/RS- deltas, and a message crosses a route as RMSG (HRMSG
// with headers) naming its account and, when it was picked for queue
// groups on the far side, those groups:
//
//	RS+ <account> <subject>                  plain interest appeared
//	RS+ <account> <subject> <queue> <weight> a queue group has weight members
//	RS- <account> <subject> [<queue>]        the interest is gone
//	RMSG <account> <subject> <size>                       plain subscribers
//	RMSG <account> <subject> <reply> <size>               ... with a reply subject
//	RMSG <account> <subject> + <reply> <q1> [q2...] <size> plain subscribers and one member of each group
//	RMSG <account> <subject> | <q1> [q2...] <size>         ... without a reply subject
//	HRMSG <account> <subject> [as RMSG] <hdr_size> <total_size>
//
// A group name can never be "+" or "|" (queue names are subject tokens
// checked by the sending server), which is what lets the markers mark.

// NextField returns the first blank-separated field of s and the rest of s
// after it, or an empty field when s holds none. The server walks an RMSG's
// Queues with it without allocating.
func NextField(s []byte) (field, rest []byte) {
	i := 0
	for i < len(s) && blank[s[i]] {
		i++
	}
	start := i
	for i < len(s) && !blank[s[i]] {
		i++
	}
	return s[start:i:i], s[i:]
}

// rsub: RS+ <account> <subject> [<queue> <weight>]
func (p *Parser) rsub(rest []byte) error {
	var f [maxFields][]byte
	switch fields(rest, &f) {
	case 2:
		p.op.Account, p.op.Subject = f[0], f[1]
	case 4:
		p.op.Account, p.op.Subject, p.op.Queue = f[0], f[1], f[2]
		if p.op.Weight = parseNumber(f[3]); p.op.Weight <= 0 {
			return errRSubWeight
		}
	default:
		return errRSubArgs
	}
	return nil
}

// runsub: RS- <account> <subject> [<queue>]
func (p *Parser) runsub(rest []byte) error {
	var f [maxFields][]byte
	switch fields(rest, &f) {
	case 2:
		p.op.Account, p.op.Subject = f[0], f[1]
	case 3:
		p.op.Account, p.op.Subject, p.op.Queue = f[0], f[1], f[2]
	default:
		return errRUnsubArgs
	}
	return nil
}

// rmsg: RMSG and HRMSG. The number of queue names is open, so the line is
// walked field by field instead of through fields: account and subject
// first, the size (or the two sizes) last, and what lies between says
// whether there is a reply subject and which groups the message is for.
func (p *Parser) rmsg(b []byte, body int, rest []byte, headers bool) (int, int, error) {
	acc, rest := NextField(rest)
	subject, rest := NextField(rest)
	rest = trimBlanks(rest)
	sizes := 1
	if headers {
		sizes = 2
	}
	// Peel the sizes off the end.
	var tail [2][]byte
	for k := sizes - 1; k >= 0; k-- {
		i := len(rest)
		for i > 0 && !blank[rest[i-1]] {
			i--
		}
		tail[k] = rest[i:]
		rest = trimBlanks(rest[:i])
	}
	if len(acc) == 0 || len(subject) == 0 || len(tail[sizes-1]) == 0 || len(tail[0]) == 0 {
		return 0, 0, errRMsgArgs
	}
	p.op.Account, p.op.Subject = acc, subject
	if len(rest) > 0 {
		first, more := NextField(rest)
		more = trimBlanks(more)
		switch {
		case len(first) == 1 && first[0] == '+':
			reply, queues := NextField(more)
			queues = trimBlanks(queues)
			if len(reply) == 0 || len(queues) == 0 {
				return 0, 0, errRMsgArgs
			}
			p.op.Reply, p.op.Queues = reply, queues
		case len(first) == 1 && first[0] == '|':
			if len(more) == 0 {
				return 0, 0, errRMsgArgs
			}
			p.op.Queues = more
		case len(more) == 0:
			p.op.Reply = first
		default:
			return 0, 0, errRMsgArgs
		}
	}
	if headers {
		return p.message(b, body, tail[0], tail[1], errRMsgSize, errRMsgHdr)
	}
	return p.message(b, body, nil, tail[0], errRMsgSize, nil)
}
