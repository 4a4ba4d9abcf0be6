package consensus

import (
	"context"
	"fmt"
	"log/slog"
)

// raftLogger sends etcd raft's log lines to slog. Raft's info lines
// (elections, term changes) go at debug level: with many groups they are
// noise; warnings and errors stay.
type raftLogger struct{ l *slog.Logger }

func (r raftLogger) out(level slog.Level, msg string) {
	if r.l.Enabled(context.Background(), level) {
		r.l.Log(context.Background(), level, "raft: "+msg)
	}
}

func (r raftLogger) Debug(v ...any)              { r.out(slog.LevelDebug-4, fmt.Sprint(v...)) }
func (r raftLogger) Debugf(f string, v ...any)   { r.out(slog.LevelDebug-4, fmt.Sprintf(f, v...)) }
func (r raftLogger) Info(v ...any)               { r.out(slog.LevelDebug, fmt.Sprint(v...)) }
func (r raftLogger) Infof(f string, v ...any)    { r.out(slog.LevelDebug, fmt.Sprintf(f, v...)) }
func (r raftLogger) Warning(v ...any)            { r.out(slog.LevelWarn, fmt.Sprint(v...)) }
func (r raftLogger) Warningf(f string, v ...any) { r.out(slog.LevelWarn, fmt.Sprintf(f, v...)) }
func (r raftLogger) Error(v ...any)              { r.out(slog.LevelError, fmt.Sprint(v...)) }
func (r raftLogger) Errorf(f string, v ...any)   { r.out(slog.LevelError, fmt.Sprintf(f, v...)) }
func (r raftLogger) Fatal(v ...any)              { r.Panic(v...) }
func (r raftLogger) Fatalf(f string, v ...any)   { r.Panicf(f, v...) }
func (r raftLogger) Panic(v ...any)              { s := fmt.Sprint(v...); r.out(slog.LevelError, s); panic(s) }
func (r raftLogger) Panicf(f string, v ...any) {
	s := fmt.Sprintf(f, v...)
	r.out(slog.LevelError, s)
	panic(s)
}
