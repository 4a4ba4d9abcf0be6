//go:build linux

package main

import (
	"bytes"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair by hand (/dev/ptmx, unlock, open
// the slave), so the test needs no pty package.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	mfd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	master = os.NewFile(uintptr(mfd), "/dev/ptmx")
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(mfd, unix.TIOCGPTN)
	if err != nil {
		master.Close()
		t.Fatalf("ptsname: %v", err)
	}
	slave, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		t.Fatalf("open slave: %v", err)
	}
	t.Cleanup(func() { slave.Close(); master.Close() })
	return master, slave
}

// typeAtPrompt waits until prompt number n has been shown and the terminal
// no longer echoes (so the password is being read), then types line into
// it as a user would.
func typeAtPrompt(t *testing.T, master, slave *os.File, prompts *lockedBuffer, n int, line string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
		if err != nil {
			t.Fatalf("tcgetattr: %v", err)
		}
		if strings.Count(prompts.String(), "Password") >= n && tio.Lflag&unix.ECHO == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("prompt %d with echo off never came; prompts so far %q", n, prompts.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := master.WriteString(line + "\n"); err != nil {
		t.Fatal(err)
	}
}

// runPasswdOnPTY runs wisp passwd with a terminal as stdin and types the
// two answers. It returns the exit status, stdout, the prompts (stderr) and
// what the terminal showed (its echo).
func runPasswdOnPTY(t *testing.T, first, second string) (code int, stdout, prompts, screen string) {
	t.Helper()
	defer func(c int) { passwdCost = c }(passwdCost)
	passwdCost = bcrypt.MinCost
	master, slave := openPTY(t)
	var echoed lockedBuffer
	go io.Copy(&echoed, master) // ends when the pair is closed
	var out bytes.Buffer
	var errb lockedBuffer
	done := make(chan int, 1)
	go func() { done <- runPasswd(nil, slave, &out, &errb) }()
	typeAtPrompt(t, master, slave, &errb, 1, first)
	typeAtPrompt(t, master, slave, &errb, 2, second)
	select {
	case code = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("wisp passwd did not finish")
	}
	return code, out.String(), errb.String(), echoed.String()
}

// At a terminal the password is asked twice and never echoed.
func TestPasswdTerminal(t *testing.T) {
	code, stdout, prompts, screen := runPasswdOnPTY(t, "correct horse", "correct horse")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, prompts)
	}
	hash := strings.TrimSpace(stdout)
	if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte("correct horse")); err != nil {
		t.Errorf("hash %q: %v", hash, err)
	}
	if strings.Contains(screen, "horse") {
		t.Errorf("the password was echoed: %q", screen)
	}
	if prompts != "Password: \nPassword again: \n" {
		t.Errorf("prompts %q", prompts)
	}
}

// Two different answers: nothing is hashed, and the user is told why.
func TestPasswdTerminalMismatch(t *testing.T) {
	code, stdout, prompts, _ := runPasswdOnPTY(t, "correct horse", "correct hose")
	if code != exitUsage || stdout != "" || !strings.Contains(prompts, "wisp passwd: the two passwords differ") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, prompts)
	}
}
