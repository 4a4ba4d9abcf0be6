package store

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/vfs"
)

// ErrNoSpace is wrapped by the error of every write refused because the
// disk under the store has less free space than the store's headroom.
var ErrNoSpace = errors.New("store: insufficient disk space")

// SpaceSource tells how much room the filesystem holding dir has. The
// store asks it before writing; tests replace it with a fake.
type SpaceSource interface {
	DiskSpace(dir string) (free, total uint64, err error)
}

// fsSpace asks the store's filesystem (statfs for the real one).
type fsSpace struct{ fs vfs.FS }

func (s fsSpace) DiskSpace(dir string) (free, total uint64, err error) {
	u, err := s.fs.GetDiskUsage(dir)
	if err != nil {
		return 0, 0, err
	}
	return u.AvailBytes, u.TotalBytes, nil
}

// Headroom bounds: the default headroom is an eighth of the filesystem,
// between these two.
const (
	minHeadroom = 2 << 20
	maxHeadroom = 64 << 20
	// spaceRecheck is how old the free-space figure may get before a write
	// asks the filesystem again.
	spaceRecheck = 250 * time.Millisecond
	// reserveName is the file, in the store's directory, that holds the
	// reserve (see spaceGuard).
	reserveName = "wisp-space-reserve"
)

// DefaultHeadroom is the headroom a store keeps on a filesystem of total
// bytes when Options.Headroom is zero.
func DefaultHeadroom(total uint64) uint64 {
	return min(max(total/8, minHeadroom), maxHeadroom)
}

// spaceGuard keeps a store from filling its disk. Before a group of writes
// the writer asks it whether the free space, less what the writer has
// written since it last looked and less the headroom, is still positive;
// if not, the group is refused (ErrNoSpace) before Pebble sees it. Pebble
// itself then never meets a full disk on its commit path, where it cannot
// recover (see fault.go).
//
// Half the headroom is held as a reserve file on disk. Space freed by
// others can be used up by others, so when the store runs low it deletes
// the reserve, giving Pebble physical room to finish the flushes and
// compactions that turn deletions into free space; it writes the reserve
// again once the disk has room for it and the headroom. The reserve counts
// as used whether it is on disk or not, so deleting it never flips the
// decision.
//
// Every method but the snapshots runs on the writer goroutine.
type spaceGuard struct {
	src      SpaceSource
	fs       vfs.FS
	dir      string
	headroom uint64 // 0 until the first successful look, when auto
	fixed    bool   // headroom was configured
	reserve  uint64 // size of the reserve file
	held     bool   // the reserve file is on disk

	checked time.Time
	free    uint64 // as last seen, the reserve counted as used
	phys    uint64 // as last seen, what the disk really has free
	written uint64 // bytes committed since checked

	low     atomic.Bool
	freeA   atomic.Uint64
	totalA  atomic.Uint64
	headA   atomic.Uint64
	onLow   func(low bool, free, headroom uint64)
	known   bool // the last look told the space
	lookErr bool // last look failed; logged once
	onErr   func(error)
}

func newSpaceGuard(src SpaceSource, fs vfs.FS, dir string, headroom uint64) *spaceGuard {
	g := &spaceGuard{src: src, fs: fs, dir: dir, headroom: headroom, fixed: headroom > 0}
	if g.fixed {
		g.reserve = headroom / 2
	}
	// The reserve is counted as held when a previous run left it on disk.
	if _, err := fs.Stat(g.reservePath()); err == nil {
		g.held = true
	}
	return g
}

func (g *spaceGuard) reservePath() string { return filepath.Join(g.dir, reserveName) }

// look asks the filesystem again.
func (g *spaceGuard) look(now time.Time) bool {
	g.known, g.checked = false, now
	free, total, err := g.src.DiskSpace(g.dir)
	if err != nil {
		if !g.lookErr && g.onErr != nil {
			g.onErr(err)
		}
		g.lookErr = true
		return false
	}
	g.lookErr = false
	if total == 0 {
		return false // an in-memory filesystem: nothing to watch
	}
	if !g.fixed {
		g.headroom = DefaultHeadroom(total)
		g.reserve = g.headroom / 2
	}
	g.phys = free
	if !g.held {
		// Count the reserve as if it were there.
		free -= min(free, g.reserve)
	}
	g.known, g.checked, g.free, g.written = true, now, free, 0
	g.freeA.Store(free)
	g.totalA.Store(total)
	g.headA.Store(g.headroom)
	return true
}

// avail is the free space left, as far as the guard knows.
func (g *spaceGuard) avail() uint64 { return g.free - min(g.free, g.written) }

// admit says whether a group of writes may go ahead, looking again when
// the last look is stale or the writes since have used half the margin.
// A failed look admits: a filesystem that cannot say is not full.
func (g *spaceGuard) admit(now time.Time) error {
	if now.Sub(g.checked) >= spaceRecheck || g.written >= (g.free-min(g.free, g.headroom))/2 {
		g.look(now)
	}
	if !g.known {
		return nil
	}
	if a := g.avail(); a < g.threshold() {
		g.setLow(true)
		return fmt.Errorf("%w: %d bytes free, the store keeps %d bytes of headroom", ErrNoSpace, a, g.headroom)
	}
	g.setLow(false)
	return nil
}

// threshold is the free space needed to accept new data: the headroom, and
// a quarter more to leave the low state, so that space coming and going
// with Pebble's compactions does not flip it back and forth.
func (g *spaceGuard) threshold() uint64 {
	if g.low.Load() {
		return g.headroom + g.headroom/4
	}
	return g.headroom
}

// fits says whether a batch of n bytes may be committed: it goes to the
// write-ahead log now and to a table later, so it needs twice its size. A
// freeing batch (deletions) may use the headroom and the reserve.
func (g *spaceGuard) fits(n uint64, freeing bool) error {
	if !g.known {
		return nil
	}
	need := 2 * n
	floor, a := g.headroom, g.avail()
	if freeing {
		floor, a = 0, g.phys-min(g.phys, g.written)
	}
	if a < need+floor {
		if !freeing {
			g.setLow(true)
		}
		return fmt.Errorf("%w: a write of %d bytes does not fit in %d bytes free with %d bytes of headroom",
			ErrNoSpace, n, a, floor)
	}
	g.written += n
	return nil
}

// setLow records the state and releases the reserve on the way down.
func (g *spaceGuard) setLow(low bool) {
	if g.low.Swap(low) == low {
		return
	}
	if low && g.held {
		if err := g.fs.Remove(g.reservePath()); err == nil || errors.Is(err, iofs.ErrNotExist) {
			g.held = false
		}
	}
	if g.onLow != nil {
		g.onLow(low, g.avail(), g.headroom)
	}
}

// maintain runs on the writer's tick: it refreshes the figures (so that
// monitoring and the low state follow space freed by others) and writes
// the reserve back once there is room for it.
func (g *spaceGuard) maintain(now time.Time) {
	if !g.look(now) {
		return
	}
	if g.avail() >= g.threshold() {
		g.setLow(false)
	}
	if g.held || g.low.Load() || g.reserve == 0 || g.avail() < g.headroom {
		return
	}
	if err := writeZeros(g.fs, g.reservePath(), g.reserve); err != nil {
		_ = g.fs.Remove(g.reservePath())
		return
	}
	g.held = true
	g.look(now)
}

// writeZeros writes a file of n zero bytes and syncs it, so the space is
// really taken (a sparse or merely preallocated file may not be).
func writeZeros(fs vfs.FS, name string, n uint64) error {
	f, err := fs.Create(name)
	if err != nil {
		return err
	}
	buf := make([]byte, 64<<10)
	for n > 0 {
		k := min(n, uint64(len(buf)))
		if _, err := f.Write(buf[:k]); err != nil {
			f.Close()
			return err
		}
		n -= k
	}
	return errors.Join(f.Sync(), f.Close())
}

// SpaceReport is the guard's view for monitoring; zero when the store does
// not watch its disk (memory stores).
type SpaceReport struct {
	Free     uint64 // bytes free for the store, the reserve counted as used
	Total    uint64 // size of the filesystem
	Headroom uint64 // free space below which new data is refused
	Low      bool   // new data is being refused for lack of space
}

func (g *spaceGuard) report() SpaceReport {
	if g == nil {
		return SpaceReport{}
	}
	return SpaceReport{Free: g.freeA.Load(), Total: g.totalA.Load(), Headroom: g.headA.Load(), Low: g.low.Load()}
}

// watchSpace sets up the store's space guard. On a small filesystem it
// also shrinks Pebble's memtable (and so its log files and first tables),
// which would otherwise need several MiB at a time.
func (s *Store) watchSpace() {
	src := s.opts.Space
	if src == nil {
		src = fsSpace{s.opts.FS}
	}
	g := newSpaceGuard(src, s.opts.FS, s.opts.Dir, s.opts.Headroom)
	g.onLow = func(low bool, free, headroom uint64) {
		if low {
			s.log.Error("stream store is out of space: new messages and other writes are refused until space is freed",
				"dir", s.opts.Dir, "free", free, "headroom", headroom)
		} else {
			s.log.Warn("stream store has space again: writes accepted", "dir", s.opts.Dir, "free", free)
		}
	}
	g.onErr = func(err error) {
		s.log.Warn("cannot tell the free disk space; writing without the headroom check", "dir", s.opts.Dir, "err", err)
	}
	if g.look(time.Now()) {
		if t := g.totalA.Load(); t > 0 && t < 256<<20 {
			s.memTableSize = max(t/32, 256<<10)
		}
	}
	s.space = g
}
