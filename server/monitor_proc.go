package server

import (
	"bytes"
	"errors"
	"math"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// Process figures for /varz. On Linux they come from /proc/self, as ps and
// top read them; elsewhere mem falls back to what the Go runtime holds from
// the OS and cpu reads 0.

// clockTicks is USER_HZ, the unit of /proc/self/stat's times. It is 100 on
// every Linux architecture Go supports (the kernel fixes it for userspace),
// and reading it with sysconf would need cgo.
const clockTicks = 100

// residentBytes is the process's resident set size.
func residentBytes() int64 {
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		f := bytes.Fields(b)
		if len(f) > 1 {
			if pages, err := strconv.ParseInt(string(f[1]), 10, 64); err == nil {
				return pages * int64(os.Getpagesize())
			}
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.Sys)
}

// processCPUTime is the CPU time (user + system) the process has used.
func processCPUTime() (time.Duration, error) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces:
	// count fields from the last ')'. utime and stime are fields 14 and 15,
	// so the 12th and 13th after it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("unexpected /proc/self/stat format")
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 {
		return 0, errors.New("unexpected /proc/self/stat format")
	}
	utime, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	stime, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("unexpected /proc/self/stat format")
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// cpuSampler turns CPU-time readings into a percentage of one core (so up
// to 100×cores, as ps and nats-server report it). Each reading covers the
// time since the previous one, but readings closer together than
// minCPUInterval reuse the last figure: the clock ticks are 10 ms, so a
// shorter window would be mostly rounding noise.
type cpuSampler struct {
	mu       sync.Mutex
	lastCPU  time.Duration
	lastWall time.Time
	pct      float64
}

const minCPUInterval = 500 * time.Millisecond

// init takes the first reading.
func (c *cpuSampler) init() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastCPU, _ = processCPUTime()
	c.lastWall = time.Now()
}

// percent is the CPU use since the previous reading.
func (c *cpuSampler) percent() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	wall := now.Sub(c.lastWall)
	if c.lastWall.IsZero() || wall < minCPUInterval {
		if c.lastWall.IsZero() {
			c.lastCPU, _ = processCPUTime()
			c.lastWall = now
		}
		return c.pct
	}
	cpu, err := processCPUTime()
	if err != nil {
		return 0
	}
	c.pct = math.Round(float64(cpu-c.lastCPU)/float64(wall)*10000) / 100
	c.lastCPU, c.lastWall = cpu, now
	return c.pct
}
