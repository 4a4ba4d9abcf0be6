package protocol

import (
	"fmt"
	"strings"
)

// recorder is a Handler that writes each op down in the form the testdata
// scripts use, so that runs can be compared as text.
type recorder struct {
	lines []string
}

func (r *recorder) HandleOp(op *Op) error {
	if op.HdrLen < 0 || op.HdrLen > len(op.Data) {
		return fmt.Errorf("HdrLen %d outside Data of %d bytes", op.HdrLen, len(op.Data))
	}
	r.lines = append(r.lines, formatOp(op))
	return nil
}

// formatOp prints the fields an op of its kind carries, quoted so that
// blanks and control bytes stay visible.
func formatOp(op *Op) string {
	var b strings.Builder
	b.WriteString(op.Kind.String())
	field := func(name string, v []byte) {
		if v != nil {
			fmt.Fprintf(&b, " %s=%q", name, v)
		}
	}
	field("subject", op.Subject)
	field("reply", op.Reply)
	field("queue", op.Queue)
	field("sid", op.Sid)
	if op.Max != 0 {
		fmt.Fprintf(&b, " max=%d", op.Max)
	}
	switch op.Kind {
	case OpHPub, OpHMsg:
		fmt.Fprintf(&b, " hdr=%q payload=%q", op.Header(), op.Payload())
	case OpPub, OpMsg:
		fmt.Fprintf(&b, " data=%q", op.Data)
	case OpConnect, OpInfo, OpErr:
		fmt.Fprintf(&b, " args=%q", op.Args)
	}
	return b.String()
}

// parseChunks feeds in to p in pieces cut at the given offsets (ascending)
// and returns what the recorder saw, then the error or the bytes left
// pending. Two runs that print the same text saw the same ops.
func parseChunks(p *Parser, in []byte, cuts ...int) string {
	var r recorder
	var err error
	prev := 0
	for _, c := range append(cuts, len(in)) {
		if err = p.Parse(in[prev:c], &r); err != nil {
			break
		}
		prev = c
	}
	out := r.lines
	switch {
	case err != nil:
		out = append(out, "error: "+err.Error())
		if text := ErrText(err); text != "" {
			out = append(out, "-ERR '"+text+"'")
		}
	case p.Pending() > 0:
		out = append(out, fmt.Sprintf("pending: %d bytes", p.Pending()))
	case len(out) == 0:
		out = append(out, "(nothing)")
	}
	return strings.Join(out, "\n")
}

// splitMismatch parses in whole, then cut at every offset and one byte at a
// time, and describes the first run that differs from the whole one.
func splitMismatch(p *Parser, in []byte) (whole, diff string) {
	p.Reset()
	whole = parseChunks(p, in)
	for k := 1; k < len(in); k++ {
		p.Reset()
		if got := parseChunks(p, in, k); got != whole {
			return whole, fmt.Sprintf("split at %d:\n%s", k, got)
		}
	}
	cuts := make([]int, 0, len(in))
	for k := 1; k < len(in); k++ {
		cuts = append(cuts, k)
	}
	p.Reset()
	if got := parseChunks(p, in, cuts...); got != whole {
		return whole, "one byte at a time:\n" + got
	}
	return whole, ""
}
