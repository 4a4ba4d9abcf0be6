package protocol

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The testdata/*.txt scripts hold the parser's behaviour as reviewable text.
// Each case is:
//
//	parse [side=client|route] [max_control_line=N] [max_payload=N]
//	<input lines>
//	----
//	<expected output lines>
//
// followed by a blank line. Input lines use the escapes \r \n \t \\ and
// \xHH; the file's own line breaks are not part of the input, so every byte
// on the wire is written out. Lines starting with '#' between cases are
// comments. Every case is also run split at each offset and one byte at a
// time, and must print the same. Run `go test -run TestScripts -update` to
// rewrite the expected output, then review the diff.
var update = flag.Bool("update", false, "rewrite the expected output in testdata/*.txt")

func TestScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) { runScript(t, file) })
	}
}

// runScript checks (or, with -update, rewrites) one script file.
func runScript(t *testing.T, file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	var out []string
	for i := 0; i < len(lines); {
		line := lines[i]
		if line == "" || strings.HasPrefix(line, "#") {
			out = append(out, line)
			i++
			continue
		}
		start := i
		var input []string
		for i++; i < len(lines) && lines[i] != "----"; i++ {
			input = append(input, lines[i])
		}
		if i == len(lines) {
			t.Fatalf("%s:%d: case has no ---- line", file, start+1)
		}
		out = append(out, lines[start:i+1]...)
		var want []string
		for i++; i < len(lines) && lines[i] != ""; i++ {
			want = append(want, lines[i])
		}
		got := runCase(t, fmt.Sprintf("%s:%d", file, start+1), line, input)
		if !*update && got != strings.Join(want, "\n") {
			t.Errorf("%s:%d: got\n%s\nwant\n%s", file, start+1, got, strings.Join(want, "\n"))
		}
		out = append(out, got)
	}
	if *update {
		if err := os.WriteFile(file, []byte(strings.Join(out, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// runCase runs one case and returns its output; a split run that differs
// from the whole run fails the test.
func runCase(t *testing.T, pos, cmd string, input []string) string {
	p := newScriptParser(t, pos, cmd)
	var in []byte
	for _, l := range input {
		b, err := unescape(l)
		if err != nil {
			t.Fatalf("%s: %v", pos, err)
		}
		in = append(in, b...)
	}
	whole, diff := splitMismatch(p, in)
	if diff != "" {
		t.Errorf("%s: whole input gave\n%s\nbut %s", pos, whole, diff)
	}
	return whole
}

// newScriptParser builds the parser a case's command line asks for.
func newScriptParser(t *testing.T, pos, cmd string) *Parser {
	words := strings.Fields(cmd)
	if words[0] != "parse" {
		t.Fatalf("%s: unknown command %q", pos, words[0])
	}
	side, lim := ServerSide, Limits{}
	for _, w := range words[1:] {
		key, val, _ := strings.Cut(w, "=")
		n, _ := strconv.Atoi(val)
		switch key {
		case "side":
			switch val {
			case "client":
				side = ClientSide
			case "route":
				side = RouteSide
			}
		case "max_control_line":
			lim.MaxControlLine = n
		case "max_payload":
			lim.MaxPayload = n
		default:
			t.Fatalf("%s: unknown option %q", pos, w)
		}
	}
	return NewParser(side, lim)
}

// unescape decodes one input line of a script.
func unescape(s string) ([]byte, error) {
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b = append(b, s[i])
			continue
		}
		if i++; i == len(s) {
			return nil, fmt.Errorf("trailing backslash in %q", s)
		}
		switch s[i] {
		case 'r':
			b = append(b, '\r')
		case 'n':
			b = append(b, '\n')
		case 't':
			b = append(b, '\t')
		case '\\':
			b = append(b, '\\')
		case 'x':
			if i+3 > len(s) {
				return nil, fmt.Errorf("short \\x escape in %q", s)
			}
			v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return nil, fmt.Errorf("bad \\x escape in %q", s)
			}
			b = append(b, byte(v))
			i += 2
		default:
			return nil, fmt.Errorf("unknown escape \\%c in %q", s[i], s)
		}
	}
	return b, nil
}
