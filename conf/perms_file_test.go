package conf

import (
	"reflect"
	"strings"
	"testing"

	"github.com/wisp-mq/wisp/server"
)

// Queue-group entries and default_permissions at both levels.
const queuePermsFile = `
[authorization]
users = [
  { user = "plain", password = "p" },
  { user = "own", password = "p", permissions = { subscribe = { allow = ["jobs.> workers", "tasks.* *.dev", "news.>"], deny = ["jobs.secret interns"] } } },
]
default_permissions = { publish = ["global.>"], subscribe = { allow = "feed.> readers", deny = "feed.private" } }

[accounts.A]
users = [{ user = "a", password = "p" }]
default_permissions = { publish = { deny = "acc.secret" }, allow_responses = true }
`

func TestQueueAndDefaultPermissionsFile(t *testing.T) {
	c, err := LoadFile("perms.conf", []byte(queuePermsFile))
	if err != nil {
		t.Fatal(err)
	}
	o := c.Server
	if o.Users[0].Permissions != nil {
		t.Errorf("plain has permissions %+v (defaults are applied by the server, not copied)", o.Users[0].Permissions)
	}
	own := o.Users[1].Permissions
	if want := []string{"jobs.> workers", "tasks.* *.dev", "news.>"}; own == nil || !reflect.DeepEqual(own.Subscribe.Allow, want) ||
		!reflect.DeepEqual(own.Subscribe.Deny, []string{"jobs.secret interns"}) {
		t.Errorf("own %+v", own)
	}
	want := map[string]*server.Permissions{
		server.GlobalAccount: {
			Publish:   server.SubjectPermission{Allow: []string{"global.>"}},
			Subscribe: server.SubjectPermission{Allow: []string{"feed.> readers"}, Deny: []string{"feed.private"}},
		},
		"A": {
			Publish:   server.SubjectPermission{Deny: []string{"acc.secret"}},
			Responses: &server.ResponsePermission{},
		},
	}
	if !reflect.DeepEqual(o.DefaultPermissions, want) {
		t.Errorf("default permissions\n got %+v\nwant %+v", o.DefaultPermissions, want)
	}
}

func TestQueueAndDefaultPermissionsErrors(t *testing.T) {
	const user = "[authorization]\nusers = [{ user = \"u\", password = \"p\", permissions = "
	tests := []struct{ text, want string }{
		{user + "{ publish = [\"a b\"] } }]\n",
			`perms.conf:2: authorization.users: user "u": publish.allow: "a b": publish permissions take no queue group`},
		{user + "{ publish = { deny = \"a.> q\" } } }]\n",
			`perms.conf:2: authorization.users: user "u": publish.deny: "a.> q": publish permissions take no queue group`},
		{user + "{ subscribe = [\"a b..c\"] } }]\n",
			`perms.conf:2: authorization.users: user "u": subscribe.allow: "a b..c": queue group "b..c" is not a valid pattern`},
		{user + "{ subscribe = { deny = [\"a b c\"] } } }]\n",
			`perms.conf:2: authorization.users: user "u": subscribe.deny: "a b c": expected a subject and at most one queue group`},
		{"[authorization]\nusers = [{ user = \"u\", password = \"p\" }]\n\ndefault_permissions = { publish = \"x q\" }\n",
			`perms.conf:4: authorization.default_permissions: publish.allow: "x q": publish permissions take no queue group`},
		{"[authorization]\nusers = [{ user = \"u\", password = \"p\" }]\ndefault_permissions = { subscribe = \"x >.q\" }\n",
			`perms.conf:3: authorization.default_permissions: subscribe.allow: "x >.q": queue group ">.q" is not a valid pattern`},
		{"[authorization]\nusers = [{ user = \"u\", password = \"p\" }]\ndefault_permissions = { publsh = \"x\" }\n",
			`perms.conf:3: unknown key "authorization.default_permissions.publsh"`},
		{"[authorization]\ntoken = \"t\"\ndefault_permissions = { publish = \"x\" }\n",
			`perms.conf:3: authorization.default_permissions: there are no users for them to apply to`},
		{"[accounts.A]\nusers = [{ user = \"u\", password = \"p\" }]\n# defaults\ndefault_permissions = { subscribe = { deny = \"a b..\" } }\n",
			`perms.conf:4: accounts.A.default_permissions: subscribe.deny: "a b..": queue group "b.." is not a valid pattern`},
		{"[accounts.A]\ndefault_permissions = { publish = \"x\" }\n",
			`perms.conf:2: accounts.A.default_permissions: there are no users for them to apply to`},
		{"[accounts.A]\nusers = [{ user = \"u\", password = \"p\" }]\ndefault_permissions = 5\n",
			`perms.conf:3: accounts.A.default_permissions`},
	}
	for _, tt := range tests {
		_, err := LoadFile("perms.conf", []byte(tt.text))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s\n error %v\n want %q", tt.text, err, tt.want)
		}
	}
}
