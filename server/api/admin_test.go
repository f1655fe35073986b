package api_test

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/api"
	"github.com/idsync/idsync/server/directories"
	"github.com/idsync/idsync/server/store"
)

// TestUpdateDirectoryMask: an update changes the Directory paths its mask
// names and nothing else; write_back keeps its own rules (write_back alone
// replaces the whole; turning write-back on makes created users change
// their password unless told otherwise).
func TestUpdateDirectoryMask(t *testing.T) {
	ctx := t.Context()
	st, box := openStore(t)
	s := api.NewAdminServer(api.AdminConfig{Store: st, Directories: directories.New(directories.Config{Store: st, Box: box})})
	const people = "ou=people,dc=example,dc=org"
	created, err := s.CreateDirectory(ctx, &idsyncv1.CreateDirectoryRequest{Directory: &idsyncv1.Directory{Name: "corp",
		Kind: idsyncv1.DirectoryKind_DIRECTORY_KIND_OPENLDAP, BaseDn: "dc=example,dc=org", SafeguardMax: 50}})
	if err != nil {
		t.Fatal(err)
	}
	update := func(d *idsyncv1.Directory, paths ...string) (*store.Directory, error) {
		d.Name = "corp"
		if _, err := s.UpdateDirectory(ctx, &idsyncv1.UpdateDirectoryRequest{Directory: d,
			UpdateMask: &fieldmaskpb.FieldMask{Paths: paths}}); err != nil {
			return nil, err
		}
		return st.GetDirectory(ctx, "corp")
	}

	t.Run("a field, the others kept", func(t *testing.T) {
		d, err := update(&idsyncv1.Directory{SafeguardPercent: 40, SafeguardMax: 1, BaseDn: "dc=elsewhere"}, "safeguard_percent")
		if err != nil {
			t.Fatal(err)
		}
		if d.SafeguardPercent != 40 || d.SafeguardMax != 50 || d.BaseDN != "dc=example,dc=org" {
			t.Errorf("safeguard %d%%, max %d, base %q; want 40, 50 and the base kept", d.SafeguardPercent, d.SafeguardMax, d.BaseDN)
		}
	})
	t.Run("a field of the mapping", func(t *testing.T) {
		d, err := update(&idsyncv1.Directory{Mapping: &idsyncv1.AttributeMapping{Email: "mailAlt"}}, "mapping.email")
		if err != nil {
			t.Fatal(err)
		}
		if d.Mapping.Email != "mailAlt" || d.Mapping.Username != created.GetDirectory().GetMapping().GetUsername() {
			t.Errorf("mapping %+v; want email mailAlt, the username of the preset", d.Mapping)
		}
	})
	t.Run("write-back turned on", func(t *testing.T) {
		d, err := update(&idsyncv1.Directory{WriteBack: &idsyncv1.WriteBack{Ous: []string{people}}}, "write_back.ous")
		if err != nil {
			t.Fatal(err)
		}
		if wb := d.WriteBack; wb == nil || len(wb.OUs) != 1 || !wb.MustChangePassword {
			t.Errorf("write-back %+v; want the OU, must change the password", wb)
		}
	})
	t.Run("must change turned off", func(t *testing.T) {
		off := false
		d, err := update(&idsyncv1.Directory{WriteBack: &idsyncv1.WriteBack{MustChangePassword: &off}}, "write_back.must_change_password")
		if err != nil {
			t.Fatal(err)
		}
		if wb := d.WriteBack; wb == nil || len(wb.OUs) != 1 || wb.MustChangePassword {
			t.Errorf("write-back %+v; want the OU kept, must change off", wb)
		}
	})
	t.Run("no paths change nothing", func(t *testing.T) {
		before, _ := st.GetDirectory(ctx, "corp")
		d, err := update(&idsyncv1.Directory{SafeguardPercent: 99})
		if err != nil {
			t.Fatal(err)
		}
		if d.SafeguardPercent != before.SafeguardPercent || d.WriteBack == nil {
			t.Errorf("after an empty mask: %+v", d)
		}
	})
	t.Run("write_back alone replaces the whole", func(t *testing.T) {
		d, err := update(&idsyncv1.Directory{}, "write_back")
		if err != nil {
			t.Fatal(err)
		}
		if d.WriteBack != nil {
			t.Errorf("write-back %+v; want off", d.WriteBack)
		}
	})

	for _, tc := range []struct {
		name  string
		paths []string
		want  string
	}{
		{"unknown", []string{"colour"}, `"colour" is not a field of Directory`},
		{"unknown of the mapping", []string{"mapping.colour"}, `"mapping.colour" is not a field of Directory`},
		{"the kind", []string{"kind"}, `"kind" cannot be changed`},
		{"what the hub reports", []string{"active_users"}, `"active_users" cannot be changed`},
		{"within what the hub reports", []string{"last_run.seen"}, `"last_run.seen" cannot be changed`},
		{"write_back with one of its fields", []string{"write_back", "write_back.ous"}, "write_back replaces the whole; name it alone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := update(&idsyncv1.Directory{}, tc.paths...)
			wantCode(t, "UpdateDirectory", err, codes.InvalidArgument, tc.want)
		})
	}
}
