package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestPasswdFromStdin(t *testing.T) {
	defer func(c int) { passwdCost = c }(passwdCost)
	passwdCost = bcrypt.MinCost
	var out, errb bytes.Buffer
	code := runPasswd(nil, strings.NewReader("correct horse\r\n"), &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	hash := strings.TrimSpace(out.String())
	if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte("correct horse")); err != nil {
		t.Errorf("hash %q: %v", hash, err)
	}
}

func TestPasswdErrors(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		stdin string
		want  string
	}{
		{"empty stdin", nil, "", "empty password"},
		{"empty line", nil, "\n", "empty password"},
		{"empty flag", []string{"--password", ""}, "ignored\n", "empty password"},
		{"too long", []string{"--password", strings.Repeat("x", 73)}, "", "wisp passwd:"},
		{"stray argument", []string{"secret"}, "", `unexpected argument "secret"`},
		{"unknown flag", []string{"--cost", "4"}, "", "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := runPasswd(tt.args, strings.NewReader(tt.stdin), &out, &errb)
			if code == 0 || out.Len() != 0 || !strings.Contains(errb.String(), tt.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want failure mentioning %q", code, out.String(), errb.String(), tt.want)
			}
		})
	}
}

func TestRunConfigErrorExitCode(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"--max_payload", "lots"}, nil, &out, &errb); code != exitUsage {
		t.Errorf("exit %d, want %d", code, exitUsage)
	}
	if !strings.HasPrefix(errb.String(), "wisp: ") || !strings.Contains(errb.String(), `invalid size "lots"`) {
		t.Errorf("stderr %q", errb.String())
	}
}

// From a pipe (an *os.File that is no terminal) the first line is the
// password, with no prompt and no second asking, as scripts expect.
func TestPasswdFromPipe(t *testing.T) {
	defer func(c int) { passwdCost = c }(passwdCost)
	passwdCost = bcrypt.MinCost
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w.WriteString("s3cret\nignored\n")
	w.Close()
	var out, errb bytes.Buffer
	if code := runPasswd(nil, r, &out, &errb); code != 0 || errb.Len() != 0 {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
	if err := bcrypt.CompareHashAndPassword([]byte(strings.TrimSpace(out.String())), []byte("s3cret")); err != nil {
		t.Error(err)
	}
}

// askTwice stops at a read error (Ctrl-D, a closed terminal).
func TestAskTwiceReadError(t *testing.T) {
	calls := 0
	read := func() ([]byte, error) {
		calls++
		if calls == 2 {
			return nil, io.ErrUnexpectedEOF
		}
		return []byte("x"), nil
	}
	var prompts bytes.Buffer
	if _, err := askTwice(read, &prompts); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("err %v", err)
	}
}
