package store

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
)

// openManifest reads the manifest, compares it with what Pebble recovered,
// and keeps the result for OpenReport. A fresh manifest is written at once
// (the union of both, so no claim is dropped); a store from before
// manifests existed gets its first one here.
func (s *Store) openManifest() {
	if s.opts.Volatile {
		return
	}
	s.man = newManifestTracker(s.opts.FS, s.opts.Dir, s.log)
	ms := readManifest(s.opts.FS, s.opts.Dir)
	rep := OpenReport{Dir: s.opts.Dir, Manifest: ms.Manifest != nil, Problems: ms.Problems, WALFiles: s.walsAtOpen}
	obs, problems := observe(s.Reader(), ms.Manifest)
	rep.Problems = append(rep.Problems, problems...)
	rep.Damage = reconcile(s.man, ms.Manifest, obs)
	if ms.Manifest != nil {
		s.man.gen = ms.Manifest.Generation
	} else if len(obs) > 0 {
		rep.Problems = append(rep.Problems, "no manifest: a store written before manifests existed, or the manifest files were deleted; losses before this start cannot be detected")
	}
	for _, p := range rep.Problems {
		s.log.Error("store damage", "dir", s.opts.Dir, "problem", p)
	}
	s.report = rep
	s.man.dirty = true
	if err := s.man.write(false); err != nil {
		s.log.Error("manifest not written", "err", err)
	}
}

// OpenReport returns what Open found when comparing the store with its
// manifest. The stream layer acts on it before loading streams.
func (s *Store) OpenReport() OpenReport { return s.report }

// closeManifest runs at Close once the writer has stopped and the log is
// synced: it flushes the memtable into sstables (whose blocks carry
// checksums, so a damaged one is an error and not a silent truncation, and
// a clean stop leaves the log nearly empty), then writes the final
// manifest.
func (s *Store) closeManifest() error {
	if s.man == nil {
		return nil
	}
	var err error
	if !s.opts.KeepWALOnClose {
		start := time.Now()
		if ferr := s.db.Flush(); ferr != nil {
			err = fmt.Errorf("store: flush at close: %w", ferr)
		}
		s.log.Debug("flushed the memtable at close", "took", time.Since(start))
	}
	if werr := s.man.write(false); werr != nil {
		s.log.Error("final manifest not written", "err", werr)
	}
	return err
}

// NoteLoss records in the manifest that sequences r.First..r.Last of
// stream id were found missing and the loss accepted, so the gap stays
// explained after the store has been made to match.
func (b *Batch) NoteLoss(id uint32, r LostRange) {
	b.st.man.noteLoss(id, r)
}

// Lost returns the losses accepted so far for stream id.
func (s *Store) Lost(id uint32) []LostRange {
	if s.man == nil {
		return nil
	}
	s.man.mu.Lock()
	defer s.man.mu.Unlock()
	if ms := s.man.streams[id]; ms != nil {
		return append([]LostRange(nil), ms.Lost...)
	}
	return nil
}

// openPebble opens the database, turning a Fatalf that Pebble raises
// while opening (it does so when it cannot write its own MANIFEST, as on a
// read-only or full filesystem) into an error: a store that cannot open
// must say why and let the caller refuse to start, not crash the process.
//
// A directory that holds a Wisp manifest but no Pebble CURRENT file lost
// its database: Pebble would create an empty one, and every stream would
// be "lost" at once. It is refused instead, naming what is missing.
func openPebble(dir string, po *pebble.Options) (db *pebble.DB, err error) {
	if !po.DisableWAL && hasManifest(po.FS, dir) {
		if _, serr := po.FS.Stat(po.FS.PathJoin(dir, "CURRENT")); serr != nil {
			return nil, fmt.Errorf("the store's manifest is here but Pebble's CURRENT file is not (%v): the database files are missing or damaged; restore them, or move the directory away to start empty", serr)
		}
	}
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("pebble failed while opening: %v", r)
		}
	}()
	return pebble.Open(dir, po)
}

// listWALs names the write-ahead log files in dir, oldest first, with
// their sizes ("000002.log (25332 bytes)").
func listWALs(fs vfs.FS, dir string) []string {
	names, err := fs.List(dir)
	if err != nil {
		return nil
	}
	sort.Strings(names) // Pebble numbers its files zero-padded
	var out []string
	for _, n := range names {
		if !strings.HasSuffix(n, ".log") {
			continue
		}
		if fi, err := fs.Stat(fs.PathJoin(dir, n)); err == nil {
			out = append(out, fmt.Sprintf("%s (%d bytes)", n, fi.Size()))
		}
	}
	return out
}

// hasManifest says whether dir holds either manifest generation.
func hasManifest(fs vfs.FS, dir string) bool {
	for _, n := range manifestFiles {
		if _, err := fs.Stat(fs.PathJoin(dir, n)); err == nil {
			return true
		}
	}
	return false
}
