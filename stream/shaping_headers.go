package stream

import "bytes"

// shapingHeaderNames reports, in one pass over a header block's names,
// whether it has a Nats-TTL header and whether it has any header whose
// name starts with Nats-Schedule (Nats-Scheduler included). Every publish
// with headers asks, on every stream, so that a stream without TTLs or
// schedules can refuse them as nats-server does; it costs a scan of the
// line starts and allocates nothing.
func shapingHeaderNames(hdr []byte) (ttl, sched bool) {
	i := bytes.IndexByte(hdr, '\n')
	for i >= 0 && i+1 < len(hdr) {
		line := hdr[i+1:]
		for len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			line = line[1:]
		}
		if hasPrefixFold(line, "nats-") {
			switch rest := line[len("nats-"):]; {
			case hasPrefixFold(rest, "ttl"):
				after := bytes.TrimLeft(rest[len("ttl"):], " \t")
				ttl = ttl || len(after) > 0 && after[0] == ':'
			case hasPrefixFold(rest, "schedule"):
				sched = true
			}
		}
		j := bytes.IndexByte(hdr[i+1:], '\n')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return ttl, sched
}

// hasPrefixFold reports whether b starts with lower, ASCII letters
// compared without regard to case.
func hasPrefixFold(b []byte, lower string) bool {
	if len(b) < len(lower) {
		return false
	}
	for k := 0; k < len(lower); k++ {
		c := b[k]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[k] {
			return false
		}
	}
	return true
}
