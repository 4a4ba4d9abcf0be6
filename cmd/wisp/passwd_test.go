package main

import (
	"bytes"
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
