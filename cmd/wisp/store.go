package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/wisp-mq/wisp/conf"
	"github.com/wisp-mq/wisp/stream/store"
)

// exitDamaged is "wisp store verify"'s status when it found damage, so a
// script can tell it from a check that could not run (exitFailed).
const exitDamaged = 3

// runStore dispatches "wisp store <command>". Only verify exists: a repair
// that rewrote the store to match what survived would be the same as
// starting the server once with on_damage = "serve" (which records the
// loss and continues sequences after it), so that is the one way to accept
// a loss, and this tool stays read-only.
func runStore(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "verify" {
		fmt.Fprintln(stderr, "Usage: wisp store verify [-sd <dir>]\n\n"+
			"Checks a stopped server's stream store: every record's checksum, and every\n"+
			"stream and consumer against the store's manifest. Exit status 0 when intact,\n"+
			"3 when damaged, 1 when the check could not run.")
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return exitOK
		}
		return exitUsage
	}
	fs := flag.NewFlagSet("wisp store verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("sd", conf.DefaultStoreDir, "the server's store directory (jetstream.store_dir)")
	fs.StringVar(dir, "store_dir", conf.DefaultStoreDir, "same as -sd")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "wisp store verify: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	stores, err := storeDirs(*dir)
	if err != nil {
		fmt.Fprintf(stderr, "wisp store verify: %v\n", err)
		return exitFailed
	}
	damaged, failed := 0, 0
	for _, s := range stores {
		rep, err := store.Verify(nil, s.dir)
		if err != nil {
			fmt.Fprintf(stderr, "wisp store verify: %s: %v\n", s.label, err)
			failed++
			continue
		}
		printVerify(stdout, s.label, rep)
		if rep.Damaged() {
			damaged++
		}
	}
	switch {
	case failed > 0:
		fmt.Fprintf(stdout, "result: %d of %d stores could not be checked\n", failed, len(stores))
		return exitFailed
	case damaged > 0:
		fmt.Fprintf(stdout, "result: DAMAGED (%d of %d stores)\n", damaged, len(stores))
		return exitDamaged
	}
	fmt.Fprintf(stdout, "result: intact (%d stores)\n", len(stores))
	return exitOK
}

// storeDir is one account's file store under the store directory.
type storeDir struct{ label, dir string }

// storeDirs lists the global account's store and every account's under
// dir/accounts/<name>, as the server lays them out (cmd/wisp/jetstream.go).
func storeDirs(dir string) ([]storeDir, error) {
	var out []storeDir
	if _, err := os.Stat(filepath.Join(dir, "streams", "CURRENT")); err == nil {
		out = append(out, storeDir{"global account", filepath.Join(dir, "streams")})
	}
	ents, err := os.ReadDir(filepath.Join(dir, "accounts"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	for _, e := range ents {
		d := filepath.Join(dir, "accounts", e.Name(), "streams")
		if _, err := os.Stat(filepath.Join(d, "CURRENT")); err == nil {
			out = append(out, storeDir{"account " + e.Name(), d})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no stream store under %s (expected %s)", dir, filepath.Join(dir, "streams"))
	}
	return out, nil
}

// printVerify prints one store's report, stream by stream.
func printVerify(w io.Writer, label string, rep *store.VerifyReport) {
	fmt.Fprintf(w, "store %s (%s), manifest generation %d\n", rep.Dir, label, rep.Generation)
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "  PROBLEM: %s\n", p)
	}
	for i := range rep.Streams {
		s := &rep.Streams[i]
		bad := len(s.Corrupt) > 0 || s.Lost != nil || len(s.MissingConsumers) > 0 || len(s.Problems) > 0
		status := "intact"
		if bad {
			status = "DAMAGED"
		}
		fmt.Fprintf(w, "  stream %s: %s, %d messages in %s, last seq %d\n",
			s.Name, status, s.Messages, ranges(s.Ranges), max(s.FoundLast, s.ManifestLast))
		if s.Lost != nil {
			fmt.Fprintf(w, "    LOST: acknowledged seqs %d-%d are missing (%d messages)\n",
				s.Lost.First, s.Lost.Last, s.Lost.Last-s.Lost.First+1)
		}
		if len(s.Corrupt) > 0 {
			fmt.Fprintf(w, "    CORRUPT: %d message records fail their checksum: seqs %s\n", len(s.Corrupt), seqList(s.Corrupt))
		}
		if len(s.MissingConsumers) > 0 {
			fmt.Fprintf(w, "    MISSING CONSUMERS: %s\n", strings.Join(s.MissingConsumers, ", "))
		}
		for _, p := range s.Problems {
			fmt.Fprintf(w, "    PROBLEM: %s\n", p)
		}
		for _, a := range s.Accepted {
			fmt.Fprintf(w, "    accepted earlier: seqs %d-%d were lost\n", a.First, a.Last)
		}
		if len(s.Consumers) > 0 {
			sort.Strings(s.Consumers)
			fmt.Fprintf(w, "    consumers: %s\n", strings.Join(s.Consumers, ", "))
		}
	}
}

// ranges prints runs of sequences, the first few of many.
func ranges(rs []store.SeqRange) string {
	if len(rs) == 0 {
		return "no range"
	}
	var parts []string
	for i, r := range rs {
		if i == 8 {
			parts = append(parts, fmt.Sprintf("and %d more runs", len(rs)-i))
			break
		}
		if r.First == r.Last {
			parts = append(parts, fmt.Sprint(r.First))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", r.First, r.Last))
		}
	}
	return "seqs " + strings.Join(parts, ", ")
}

func seqList(seqs []uint64) string {
	var parts []string
	for i, s := range seqs {
		if i == 20 {
			parts = append(parts, fmt.Sprintf("and %d more", len(seqs)-i))
			break
		}
		parts = append(parts, fmt.Sprint(s))
	}
	return strings.Join(parts, ", ")
}
