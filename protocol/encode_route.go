package protocol

import (
	"slices"
	"strconv"
)

// AppendRSub appends "RS+ <account> <subject>\r\n", or with a queue
// "RS+ <account> <subject> <queue> <weight>\r\n".
func AppendRSub(dst, account, subject, queue []byte, weight int64) []byte {
	dst = slices.Grow(dst, len("RS+ ")+len(account)+1+len(subject)+1+len(queue)+1+digits64(weight)+2)
	dst = append(dst, "RS+ "...)
	dst = append(dst, account...)
	dst = append(dst, ' ')
	dst = append(dst, subject...)
	if len(queue) > 0 {
		dst = append(dst, ' ')
		dst = append(dst, queue...)
		dst = append(dst, ' ')
		dst = strconv.AppendInt(dst, weight, 10)
	}
	return append(dst, "\r\n"...)
}

// AppendRUnsub appends "RS- <account> <subject> [queue]\r\n".
func AppendRUnsub(dst, account, subject, queue []byte) []byte {
	dst = slices.Grow(dst, len("RS- ")+len(account)+1+len(subject)+1+len(queue)+2)
	dst = append(dst, "RS- "...)
	dst = append(dst, account...)
	dst = append(dst, ' ')
	dst = append(dst, subject...)
	if len(queue) > 0 {
		dst = append(dst, ' ')
		dst = append(dst, queue...)
	}
	return append(dst, "\r\n"...)
}

// AppendRMsg appends an RMSG, or an HRMSG when hdrLen > 0, for a message of
// account on subject: data is the header block (its first hdrLen bytes)
// followed by the payload; queues names the groups on the far side that
// should get it, none for plain subscribers only. It grows dst at most once.
func AppendRMsg(dst, account, subject, reply []byte, queues []string, hdrLen int, data []byte) []byte {
	n := len("HRMSG ") + len(account) + 1 + len(subject) + 1 + optLen(reply) + 2 +
		digits(hdrLen) + 1 + digits(len(data)) + 2 + len(data) + 2
	for _, q := range queues {
		n += len(q) + 1
	}
	dst = slices.Grow(dst, n)
	if hdrLen > 0 {
		dst = append(dst, "HRMSG "...)
	} else {
		dst = append(dst, "RMSG "...)
	}
	dst = append(dst, account...)
	dst = append(dst, ' ')
	dst = append(dst, subject...)
	dst = append(dst, ' ')
	switch {
	case len(queues) > 0 && len(reply) > 0:
		dst = append(dst, "+ "...)
		dst = append(dst, reply...)
		dst = append(dst, ' ')
	case len(queues) > 0:
		dst = append(dst, "| "...)
	default:
		dst = appendOpt(dst, reply)
	}
	for _, q := range queues {
		dst = append(dst, q...)
		dst = append(dst, ' ')
	}
	if hdrLen > 0 {
		dst = strconv.AppendInt(dst, int64(hdrLen), 10)
		dst = append(dst, ' ')
	}
	return appendData(dst, data)
}
