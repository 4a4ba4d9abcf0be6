package server

import (
	"strings"
	"testing"
)

// defaultPermsOptions has users with and without permissions in the global
// account and in account A, and default permissions for both.
func defaultPermsOptions(o *Options) {
	o.Users = []User{
		{Username: "plain", Password: "p"},
		{Username: "own", Password: "p", Permissions: &Permissions{Publish: SubjectPermission{Allow: []string{"own.>"}}}},
	}
	o.Accounts = []AccountConfig{{Name: "A", Users: []User{
		{Username: "a-plain", Password: "p"},
		{Username: "a-own", Password: "p", Permissions: &Permissions{Publish: SubjectPermission{Allow: []string{"a-own.>"}}}},
	}}}
	o.DefaultPermissions = map[string]*Permissions{
		GlobalAccount: {
			Publish:   SubjectPermission{Allow: []string{"global.>"}},
			Subscribe: SubjectPermission{Allow: []string{"feed.>", "jobs.> workers"}},
		},
		"A": {Publish: SubjectPermission{Allow: []string{"acc.>"}}, Subscribe: SubjectPermission{Deny: []string{"acc.secret"}}},
	}
}

// login connects a raw client as user.
func login(t *testing.T, s *Server, user string) *rawClient {
	c := dialRaw(t, s)
	c.send(`CONNECT {"verbose":false,"user":"` + user + `","pass":"p"}` + "\r\nPING\r\n")
	c.expect("PONG")
	return c
}

// allowed checks that each op gets no -ERR; denied, that each gets want.
func allowed(c *rawClient, ops ...string) {
	c.t.Helper()
	for _, op := range ops {
		c.send(op + "\r\nPING\r\n")
		c.expect("PONG")
	}
}

func denied(c *rawClient, op, want string) {
	c.t.Helper()
	c.send(op + "\r\n")
	c.expect(want)
}

func TestDefaultPermissions(t *testing.T) {
	s := startServer(t, defaultPermsOptions)

	// A global user without permissions gets the global defaults, queue
	// entries included.
	plain := login(t, s, "plain")
	allowed(plain, "PUB global.x 1\r\na", "SUB feed.x 1", "SUB jobs.x workers 2")
	denied(plain, "PUB other 1\r\na", `-ERR 'Permissions Violation for Publish to "other"'`)
	denied(plain, "PUB acc.x 1\r\na", `-ERR 'Permissions Violation for Publish to "acc.x"'`)
	denied(plain, "SUB jobs.x 3", `-ERR 'Permissions Violation for Subscription to "jobs.x"'`)
	denied(plain, "SUB jobs.x others 4", `-ERR 'Permissions Violation for Subscription to "jobs.x" using queue "others"'`)

	// A user's own permissions replace the defaults: nothing of them is
	// merged in (own has no subscribe list, so it may subscribe anywhere).
	own := login(t, s, "own")
	allowed(own, "PUB own.x 1\r\na", "SUB anything 1", "SUB jobs.x others 2")
	denied(own, "PUB global.x 1\r\na", `-ERR 'Permissions Violation for Publish to "global.x"'`)

	// Account A's users get A's defaults, not the global ones.
	ap := login(t, s, "a-plain")
	allowed(ap, "PUB acc.x 1\r\na", "SUB anything 1")
	denied(ap, "PUB global.x 1\r\na", `-ERR 'Permissions Violation for Publish to "global.x"'`)
	denied(ap, "SUB acc.secret 2", `-ERR 'Permissions Violation for Subscription to "acc.secret"'`)
	ao := login(t, s, "a-own")
	allowed(ao, "PUB a-own.x 1\r\na", "SUB acc.secret 1")
	denied(ao, "PUB acc.x 1\r\na", `-ERR 'Permissions Violation for Publish to "acc.x"'`)
}

func TestReloadDefaultPermissions(t *testing.T) {
	s := startServer(t, defaultPermsOptions)
	jobs := login(t, s, "plain")
	allowed(jobs, "SUB jobs.x workers 1")
	feed := login(t, s, "plain")
	allowed(feed, "SUB feed.x 1")
	own := login(t, s, "own")
	allowed(own, "SUB jobs.x workers 1")
	ap := login(t, s, "a-plain")
	allowed(ap, "SUB acc.y 1")

	err := s.Reload(reloadOpts(s, func(o *Options) {
		o.DefaultPermissions = map[string]*Permissions{
			GlobalAccount: {Subscribe: SubjectPermission{Allow: []string{"feed.>", "jobs.> admins"}}},
			"A":           {Subscribe: SubjectPermission{Deny: []string{"acc.y"}}},
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	jobs.expect(`-ERR 'Permissions Violation for Subscription to "jobs.x" using queue "workers"'`)
	jobs.expectClosed()
	ap.expect(`-ERR 'Permissions Violation for Subscription to "acc.y"'`)
	ap.expectClosed()
	// Kept: still allowed, or with permissions of its own.
	allowed(feed, "PUB anything 1\r\na") // the new defaults allow any publish
	allowed(own, "SUB jobs.y others 2")

	// Removing the defaults lifts them from open connections.
	if err := s.Reload(reloadOpts(s, func(o *Options) { o.DefaultPermissions = nil })); err != nil {
		t.Fatal(err)
	}
	allowed(feed, "SUB other 2")
}

func TestDefaultPermissionsValidation(t *testing.T) {
	users := []User{{Username: "u", Password: "p"}}
	tests := []struct {
		edit func(*Options)
		want string
	}{
		{func(o *Options) {
			o.Users = users
			o.DefaultPermissions = map[string]*Permissions{"nope": {}}
		}, `default_permissions: account "nope" is not configured`},
		{func(o *Options) {
			o.Users = users
			o.DefaultPermissions = map[string]*Permissions{GlobalAccount: {Publish: SubjectPermission{Allow: []string{"a q"}}}}
		}, `default_permissions: publish.allow: "a q": publish permissions take no queue group`},
		{func(o *Options) {
			o.Accounts = []AccountConfig{{Name: "A", Users: users}}
			o.DefaultPermissions = map[string]*Permissions{"A": {Subscribe: SubjectPermission{Deny: []string{"a b..c"}}}}
		}, `accounts.A.default_permissions: subscribe.deny: "a b..c": queue group "b..c" is not a valid pattern`},
		{func(o *Options) {
			o.AuthToken = "t"
			o.DefaultPermissions = map[string]*Permissions{GlobalAccount: {}}
		}, `default_permissions: there are no users for them to apply to`},
		{func(o *Options) {
			o.Users = users
			o.Accounts = []AccountConfig{{Name: "A"}}
			o.DefaultPermissions = map[string]*Permissions{"A": {}}
		}, `accounts.A.default_permissions: there are no users for them to apply to`},
	}
	for i, tc := range tests {
		o := &Options{}
		tc.edit(o)
		if err := o.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("case %d: %v\n want %s", i, err, tc.want)
		}
	}
}
