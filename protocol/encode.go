package protocol

import (
	"slices"
	"strconv"
)

// The Append functions write one op in wire form to the end of dst and
// return the extended slice, like strconv's. Each grows dst at most once,
// to the exact length of the op, so a caller whose buffer already has the
// room (a pooled output chunk, say) never allocates. They do not validate
// subjects or sids: the server and client check those where they come in.

// AppendMsg appends "MSG <subject> <sid> [reply] <size>\r\n<data>\r\n".
func AppendMsg(dst, subject, sid, reply, data []byte) []byte {
	dst = slices.Grow(dst, len("MSG ")+len(subject)+1+len(sid)+1+optLen(reply)+
		digits(len(data))+2+len(data)+2)
	dst = append(dst, "MSG "...)
	dst = append(dst, subject...)
	dst = append(dst, ' ')
	dst = append(dst, sid...)
	dst = append(dst, ' ')
	dst = appendOpt(dst, reply)
	return appendData(dst, data)
}

// AppendHMsg appends "HMSG <subject> <sid> [reply] <hdr_size> <total_size>\r\n
// <data>\r\n"; data holds the header block (its first hdrLen bytes) followed
// by the payload.
func AppendHMsg(dst, subject, sid, reply []byte, hdrLen int, data []byte) []byte {
	dst = slices.Grow(dst, len("HMSG ")+len(subject)+1+len(sid)+1+optLen(reply)+
		digits(hdrLen)+1+digits(len(data))+2+len(data)+2)
	dst = append(dst, "HMSG "...)
	dst = append(dst, subject...)
	dst = append(dst, ' ')
	dst = append(dst, sid...)
	dst = append(dst, ' ')
	dst = appendOpt(dst, reply)
	dst = strconv.AppendInt(dst, int64(hdrLen), 10)
	dst = append(dst, ' ')
	return appendData(dst, data)
}

// AppendPub appends "PUB <subject> [reply] <size>\r\n<data>\r\n".
func AppendPub(dst, subject, reply, data []byte) []byte {
	dst = slices.Grow(dst, len("PUB ")+len(subject)+1+optLen(reply)+
		digits(len(data))+2+len(data)+2)
	dst = append(dst, "PUB "...)
	dst = append(dst, subject...)
	dst = append(dst, ' ')
	dst = appendOpt(dst, reply)
	return appendData(dst, data)
}

// AppendHPub appends "HPUB <subject> [reply] <hdr_size> <total_size>\r\n
// <data>\r\n"; data is the header block followed by the payload.
func AppendHPub(dst, subject, reply []byte, hdrLen int, data []byte) []byte {
	dst = slices.Grow(dst, len("HPUB ")+len(subject)+1+optLen(reply)+
		digits(hdrLen)+1+digits(len(data))+2+len(data)+2)
	dst = append(dst, "HPUB "...)
	dst = append(dst, subject...)
	dst = append(dst, ' ')
	dst = appendOpt(dst, reply)
	dst = strconv.AppendInt(dst, int64(hdrLen), 10)
	dst = append(dst, ' ')
	return appendData(dst, data)
}

// AppendSub appends "SUB <subject> [queue] <sid>\r\n".
func AppendSub(dst, subject, queue, sid []byte) []byte {
	dst = slices.Grow(dst, len("SUB ")+len(subject)+1+optLen(queue)+len(sid)+2)
	dst = append(dst, "SUB "...)
	dst = append(dst, subject...)
	dst = append(dst, ' ')
	dst = appendOpt(dst, queue)
	dst = append(dst, sid...)
	return append(dst, "\r\n"...)
}

// AppendUnsub appends "UNSUB <sid> [max]\r\n"; max <= 0 means no limit and
// is left out.
func AppendUnsub(dst, sid []byte, max int64) []byte {
	n := len("UNSUB ") + len(sid) + 2
	if max > 0 {
		n += 1 + digits64(max)
	}
	dst = slices.Grow(dst, n)
	dst = append(dst, "UNSUB "...)
	dst = append(dst, sid...)
	if max > 0 {
		dst = append(dst, ' ')
		dst = strconv.AppendInt(dst, max, 10)
	}
	return append(dst, "\r\n"...)
}

// AppendInfo appends "INFO <json> \r\n". The space before \r\n is what
// nats-server sends; clients accept it either way, and matching it keeps
// byte-for-byte comparisons with nats-server simple.
func AppendInfo(dst, json []byte) []byte {
	dst = slices.Grow(dst, len("INFO ")+len(json)+len(" \r\n"))
	dst = append(dst, "INFO "...)
	dst = append(dst, json...)
	return append(dst, " \r\n"...)
}

// AppendConnect appends "CONNECT <json>\r\n".
func AppendConnect(dst, json []byte) []byte {
	dst = slices.Grow(dst, len("CONNECT ")+len(json)+2)
	dst = append(dst, "CONNECT "...)
	dst = append(dst, json...)
	return append(dst, "\r\n"...)
}

// AppendErr appends "-ERR '<text>'\r\n". Use the ErrText constants for text
// that clients match on.
func AppendErr(dst []byte, text string) []byte {
	dst = slices.Grow(dst, len("-ERR '")+len(text)+len("'\r\n"))
	dst = append(dst, "-ERR '"...)
	dst = append(dst, text...)
	return append(dst, "'\r\n"...)
}

// AppendPing appends "PING\r\n".
func AppendPing(dst []byte) []byte { return append(dst, "PING\r\n"...) }

// AppendPong appends "PONG\r\n".
func AppendPong(dst []byte) []byte { return append(dst, "PONG\r\n"...) }

// AppendOK appends "+OK\r\n".
func AppendOK(dst []byte) []byte { return append(dst, "+OK\r\n"...) }

// appendOpt appends an optional argument and its trailing space, or nothing.
func appendOpt(dst, arg []byte) []byte {
	if len(arg) == 0 {
		return dst
	}
	dst = append(dst, arg...)
	return append(dst, ' ')
}

// appendData appends "<len(data)>\r\n<data>\r\n", the shared tail of every
// message op.
func appendData(dst, data []byte) []byte {
	dst = strconv.AppendInt(dst, int64(len(data)), 10)
	dst = append(dst, "\r\n"...)
	dst = append(dst, data...)
	return append(dst, "\r\n"...)
}

// optLen is the room appendOpt needs.
func optLen(arg []byte) int {
	if len(arg) == 0 {
		return 0
	}
	return len(arg) + 1
}

// digits is the length of n in decimal, so encoders can size dst exactly.
func digits(n int) int { return digits64(int64(n)) }

func digits64(n int64) int {
	d := 1
	if n < 0 {
		d, n = 2, -n
	}
	for n >= 10 {
		n /= 10
		d++
	}
	return d
}
