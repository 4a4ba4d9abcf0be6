package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// raceTwo runs f(0) and f(1) at once and returns their errors.
func raceTwo(f func(k int) error) [2]error {
	var errs [2]error
	var wg sync.WaitGroup
	start := make(chan struct{})
	for k := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[k] = f(k)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// oneWins checks that exactly one of errs is nil and the other is the
// JetStream error want, returning the winner.
func oneWins(t *testing.T, round int, what [2]string, errs [2]error, want jetstream.ErrorCode) int {
	t.Helper()
	won := -1
	for k, err := range errs {
		switch {
		case err == nil && won < 0:
			won = k
		case err == nil:
			t.Fatalf("round %d: both succeeded: %s and %s", round, what[0], what[1])
		case apiCode(err) != want:
			t.Fatalf("round %d: %s: %v, want error %d", round, what[k], err, want)
		}
	}
	if won < 0 {
		t.Fatalf("round %d: neither succeeded: %v", round, errs)
	}
	return won
}

// streamSubjects is the subjects of a stream as the server answers.
func streamSubjects(t *testing.T, ctx context.Context, js jetstream.JetStream, name string) []string {
	t.Helper()
	s, err := js.Stream(ctx, name)
	if err != nil {
		t.Fatalf("info of %s: %v", name, err)
	}
	return s.CachedInfo().Config.Subjects
}

// TestClusterUpdatesRacingTowardOneSubjectOneWins: two existing streams
// on two servers are updated at once, each through its own server, to
// take the same new subject: every round exactly one update succeeds and
// the other is refused with 10065, leaving its stream as it was. One of
// the two is a replicated stream every third round (its update takes the
// same path on its leader).
func TestClusterUpdatesRacingTowardOneSubjectOneWins(t *testing.T) {
	nodes := startStreamCluster(t, "updrace", 3)
	waitMetaLeader(t, nodes)
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	js := make([]jetstream.JetStream, len(nodes))
	for i, n := range nodes {
		_, js[i] = jsConnect(t, n.url())
	}
	const rounds = 10
	for r := range rounds {
		on := [2]int{r % 3, (r + 1) % 3}
		cfgs := [2]jetstream.StreamConfig{
			{Name: fmt.Sprintf("UPA%d", r), Subjects: []string{fmt.Sprintf("upd%d.a", r)}},
			{Name: fmt.Sprintf("UPB%d", r), Subjects: []string{fmt.Sprintf("upd%d.b", r)}},
		}
		if r%3 == 2 {
			cfgs[1].Replicas = 3
		}
		for k, cfg := range cfgs {
			if _, err := js[on[k]].CreateStream(ctx, cfg); err != nil {
				t.Fatalf("round %d: create %s: %v", r, cfg.Name, err)
			}
		}
		shared := fmt.Sprintf("upd%d.x", r)
		errs := raceTwo(func(k int) error {
			cfg := cfgs[k]
			cfg.Subjects = append(slices.Clone(cfg.Subjects), shared)
			_, err := js[on[k]].UpdateStream(ctx, cfg)
			return err
		})
		won := oneWins(t, r, [2]string{"update of " + cfgs[0].Name, "update of " + cfgs[1].Name}, errs, 10065)
		if got := streamSubjects(t, ctx, js[on[won]], cfgs[won].Name); !slices.Contains(got, shared) {
			t.Fatalf("round %d: %s won its update and has subjects %v", r, cfgs[won].Name, got)
		}
		lost := cfgs[1-won]
		if got := streamSubjects(t, ctx, js[on[1-won]], lost.Name); !slices.Equal(got, lost.Subjects) {
			t.Fatalf("round %d: %s lost its update and has subjects %v, want %v", r, lost.Name, got, lost.Subjects)
		}
		// The loser's subjects are still its own in the meta group: a
		// stream on them is refused, and the loser can take another.
		if _, err := js[2-r%3].CreateStream(ctx, jetstream.StreamConfig{Name: fmt.Sprintf("UPC%d", r),
			Subjects: lost.Subjects}); apiCode(err) != 10065 {
			t.Fatalf("round %d: a create on %s's subjects: %v, want error 10065", r, lost.Name, err)
		}
		lost.Subjects = append(slices.Clone(lost.Subjects), fmt.Sprintf("upd%d.y", r))
		if _, err := js[on[1-won]].UpdateStream(ctx, lost); err != nil {
			t.Fatalf("round %d: %s to a free subject: %v", r, lost.Name, err)
		}
	}
}

// TestClusterUpdateRacingCreateOneWins: an update adding a subject to an
// existing one-replica stream races, on another server, a create of a
// stream on that subject: every round exactly one succeeds, the other is
// refused with 10065.
func TestClusterUpdateRacingCreateOneWins(t *testing.T) {
	nodes := startStreamCluster(t, "updcreate", 3)
	waitMetaLeader(t, nodes)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	js := make([]jetstream.JetStream, len(nodes))
	for i, n := range nodes {
		_, js[i] = jsConnect(t, n.url())
	}
	const rounds = 10
	for r := range rounds {
		a, b := r%3, (r+1)%3
		existing := jetstream.StreamConfig{Name: fmt.Sprintf("UCA%d", r), Subjects: []string{fmt.Sprintf("uc%d.a", r)}}
		if _, err := js[a].CreateStream(ctx, existing); err != nil {
			t.Fatalf("round %d: create %s: %v", r, existing.Name, err)
		}
		shared := fmt.Sprintf("uc%d.>", r)
		created := jetstream.StreamConfig{Name: fmt.Sprintf("UCB%d", r), Subjects: []string{fmt.Sprintf("uc%d.x", r)}}
		errs := raceTwo(func(k int) error {
			if k == 0 {
				cfg := existing
				cfg.Subjects = []string{shared}
				_, err := js[a].UpdateStream(ctx, cfg)
				return err
			}
			_, err := js[b].CreateStream(ctx, created)
			return err
		})
		won := oneWins(t, r, [2]string{"update of " + existing.Name, "create of " + created.Name}, errs, 10065)
		names := streamNamesOn(t, ctx, js[2-r%3])
		if won == 0 && slices.Contains(names, created.Name) || won == 1 && !slices.Contains(names, created.Name) {
			t.Fatalf("round %d: winner %d, streams %v", r, won, names)
		}
		if won == 1 {
			if got := streamSubjects(t, ctx, js[a], existing.Name); !slices.Equal(got, existing.Subjects) {
				t.Fatalf("round %d: %s lost its update and has subjects %v", r, existing.Name, got)
			}
		}
	}
}

// TestClusterUpdateRefusedAfterItsCheckFreesItsSubjects: an update that
// adds a subject and is then refused on its stream's server (here for
// changing num_replicas, checked there) records the stream's old config
// back in the meta group: the subject it would have added is free for
// another stream, and its old subject is still taken.
func TestClusterUpdateRefusedAfterItsCheckFreesItsSubjects(t *testing.T) {
	nodes := startStreamCluster(t, "updundo", 3)
	waitMetaLeader(t, nodes)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, js0 := jsConnect(t, nodes[0].url())
	_, js1 := jsConnect(t, nodes[1].url())
	cfg := jetstream.StreamConfig{Name: "UNDO", Subjects: []string{"undo.a"}}
	if _, err := js0.CreateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	bad := cfg
	bad.Subjects, bad.Replicas = []string{"undo.a", "undo.b"}, 3
	if _, err := js0.UpdateStream(ctx, bad); err == nil {
		t.Fatal("an update of num_replicas succeeded")
	}
	if got := streamSubjects(t, ctx, js1, "UNDO"); !slices.Equal(got, cfg.Subjects) {
		t.Fatalf("UNDO has subjects %v after its refused update", got)
	}
	if _, err := js1.CreateStream(ctx, jetstream.StreamConfig{Name: "OTHER", Subjects: []string{"undo.b"}}); err != nil {
		t.Fatalf("a create on the subject of the refused update: %v", err)
	}
	if _, err := js1.CreateStream(ctx, jetstream.StreamConfig{Name: "THIRD", Subjects: []string{"undo.a"}}); apiCode(err) != 10065 {
		t.Fatalf("a create on UNDO's subject: %v, want error 10065", err)
	}
}
