//go:build !linux

package bench

import (
	"errors"
	"time"
)

// Resource figures come from /proc and getrusage on Linux only; elsewhere
// the report leaves them out.
var errNoProc = errors.New("process statistics are read on Linux only")

func procCPU(int) (time.Duration, error)       { return 0, errNoProc }
func procMem(int) (rss, peak int64, err error) { return 0, 0, errNoProc }
func selfCPU() (time.Duration, error)          { return 0, errNoProc }
func selfPeakRSS() (int64, error)              { return 0, errNoProc }
