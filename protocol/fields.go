package protocol

// maxFields is the most arguments any op takes (HMSG: subject, sid, reply,
// hdr_size, total_size).
const maxFields = 5

// blank marks the bytes that separate arguments. Tabs come from telnet users;
// '\r' is included so that a stray one before the line end (or a verb ending
// in "\r\n") splits cleanly instead of sticking to the last token.
var blank = [256]bool{' ': true, '\t': true, '\r': true}

// fields splits s at runs of blanks into f and returns how many fields there
// are. More than maxFields returns maxFields+1, which every op rejects. The
// fields have their capacity trimmed so a handler's append cannot overwrite
// the bytes that follow them in the read buffer.
func fields(s []byte, f *[maxFields][]byte) int {
	n, i := 0, 0
	for {
		for i < len(s) && blank[s[i]] {
			i++
		}
		if i == len(s) {
			return n
		}
		if n == maxFields {
			return n + 1
		}
		start := i
		for i < len(s) && !blank[s[i]] {
			i++
		}
		f[n] = s[start:i:i]
		n++
	}
}

// trimBlanks removes leading and trailing blanks, for the free-form
// arguments of CONNECT, INFO and -ERR.
func trimBlanks(s []byte) []byte {
	for len(s) > 0 && blank[s[0]] {
		s = s[1:]
	}
	for len(s) > 0 && blank[s[len(s)-1]] {
		s = s[:len(s)-1]
	}
	return s[:len(s):len(s)]
}

// verbEnd returns the length of the verb at the start of line: up to the
// first blank, or all of it.
func verbEnd(line []byte) int {
	for i, c := range line {
		if c <= ' ' && blank[c] {
			return i
		}
	}
	return len(line)
}
