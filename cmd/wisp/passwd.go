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
)

// passwdCost is the bcrypt cost of "wisp passwd" hashes: about 0.1 s per
// check on current hardware, paid once per connecting client. A variable
// only so that in-process tests can hash cheaply; the binary test checks 11.
var passwdCost = 11

// runPasswd prints the bcrypt hash of a password, for the password keys of
// the config file. The password comes from --password (for scripts) or the
// first line of stdin.
func runPasswd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wisp passwd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	password := fs.String("password", "", "the password to hash (default: read a line from stdin)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: wisp passwd [--password <password>]\n\n"+
			"Prints a bcrypt hash (cost %d) to put in the config file as a password.\n"+
			"Without --password, reads the password from the first line of stdin.\n", passwdCost)
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
		if isTerminal(stdin) {
			fmt.Fprint(stderr, "Password (shown as typed): ")
		}
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			fmt.Fprintf(stderr, "wisp passwd: reading stdin: %v\n", err)
			return exitFailed
		}
		pw = strings.TrimRight(line, "\r\n")
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

// isTerminal reports whether r is an interactive terminal, to decide
// whether to prompt.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
