package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/term"
)

// passwdCost is the bcrypt cost of "wisp passwd" hashes: about 0.1 s per
// check on current hardware, paid once per connecting client. A variable
// only so that in-process tests can hash cheaply; the binary test checks 11.
var passwdCost = 11

// runPasswd prints the bcrypt hash of a password, for the password keys of
// the config file. The password comes from --password, from the terminal
// (asked twice, not echoed), or from the first line of stdin when that is
// a pipe or a file (for scripts).
func runPasswd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wisp passwd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	password := fs.String("password", "", "the password to hash (default: read a line from stdin)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: wisp passwd [--password <password>]\n\n"+
			"Prints a bcrypt hash (cost %d) to put in the config file as a password.\n"+
			"Without --password, asks for the password twice at a terminal (not echoed),\n"+
			"or reads it from the first line of stdin when that is a pipe or a file.\n", passwdCost)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "wisp passwd: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	pw := *password
	if !flagGiven(fs, "password") {
		var err error
		if tty, ok := terminalOf(stdin); ok {
			pw, err = askTwice(func() ([]byte, error) { return term.ReadPassword(tty) }, stderr)
		} else {
			pw, err = readLine(stdin)
		}
		if errors.Is(err, errPasswordsDiffer) {
			fmt.Fprintf(stderr, "wisp passwd: %v\n", err)
			return exitUsage
		}
		if err != nil {
			fmt.Fprintf(stderr, "wisp passwd: reading stdin: %v\n", err)
			return exitFailed
		}
	}
	if pw == "" {
		fmt.Fprintln(stderr, "wisp passwd: empty password")
		return exitUsage
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(pw), passwdCost)
	if err != nil {
		fmt.Fprintf(stderr, "wisp passwd: %v\n", err)
		return exitUsage
	}
	fmt.Fprintln(stdout, string(hash))
	return exitOK
}

func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// errPasswordsDiffer: the two passwords typed at the terminal differ.
var errPasswordsDiffer = errors.New("the two passwords differ; nothing was hashed, run it again")

// askTwice reads a password at a terminal: prompted on w, read with read
// (which must not echo it), then asked again; the two must match, so a
// typo nobody could see does not end up as the only password that works.
func askTwice(read func() ([]byte, error), w io.Writer) (string, error) {
	var typed [2]string
	for i, prompt := range []string{"Password: ", "Password again: "} {
		fmt.Fprint(w, prompt)
		pw, err := read()
		fmt.Fprintln(w) // the Enter typed was not echoed either
		if err != nil {
			return "", err
		}
		typed[i] = string(pw)
	}
	if typed[0] != typed[1] {
		return "", errPasswordsDiffer
	}
	return typed[0], nil
}

// readLine reads the password from the first line of a pipe or file,
// without prompting, for scripts.
func readLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// terminalOf returns r's file descriptor when r is an interactive
// terminal, where the password is read without echo.
func terminalOf(r io.Reader) (int, bool) {
	f, ok := r.(*os.File)
	if !ok {
		return 0, false
	}
	fd := int(f.Fd())
	return fd, term.IsTerminal(fd)
}

// isTerminal reports whether r is an interactive terminal (wisp bench
// shows its progress line only there).
func isTerminal(r io.Reader) bool {
	_, ok := terminalOf(r)
	return ok
}
