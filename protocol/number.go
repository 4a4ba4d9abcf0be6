package protocol

// parseNumber reads a decimal size or count: ASCII digits only, no sign, no
// spaces. It returns -1 for anything else, including a value that does not
// fit in an int64, so a peer cannot wrap a huge size into a small one.
// strconv would do, but it takes a string and so costs a conversion per op.
func parseNumber(b []byte) int64 {
	if len(b) == 0 {
		return -1
	}
	var n int64
	for _, c := range b {
		d := int64(c) - '0'
		if d < 0 || d > 9 || n > (1<<63-1)/10 {
			return -1
		}
		n = n*10 + d
		if n < 0 { // the last digit pushed it past MaxInt64
			return -1
		}
	}
	return n
}
