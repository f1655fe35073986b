package api

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/store"
)

// TestApplyMask: the paths of an update mask are checked against App, and
// copy the fields they name, and only those, from the request's app.
func TestApplyMask(t *testing.T) {
	current := func() *idsyncv1.App {
		return &idsyncv1.App{Name: "crm", ScimUrl: "https://crm.example/scim", Scopes: []string{"a"}, RateLimit: 2,
			Status: "paused", HasSecret: true,
			DirectoryTarget: &idsyncv1.DirectoryTarget{Directory: "corp", ParentDn: "OU=Staff", RdnAttribute: "uid"}}
	}
	request := &idsyncv1.App{Name: "crm", ScimUrl: "https://new.example/scim", Scopes: []string{"b", "c"},
		Status: "active", AllowInsecureHttp: true,
		DirectoryTarget: &idsyncv1.DirectoryTarget{ParentDn: "OU=New"}}
	tests := []struct {
		name    string
		paths   []string
		want    func(a *idsyncv1.App) // the current app, changed as the paths ask
		wantErr string
	}{
		{"a field", []string{"scim_url"}, func(a *idsyncv1.App) { a.ScimUrl = "https://new.example/scim" }, ""},
		{"fields", []string{"allow_insecure_http", "scopes"}, func(a *idsyncv1.App) {
			a.AllowInsecureHttp, a.Scopes = true, []string{"b", "c"}
		}, ""},
		{"a field the request leaves unset is cleared", []string{"rate_limit"}, func(a *idsyncv1.App) { a.RateLimit = 0 }, ""},
		{"a message whole", []string{"directory_target"}, func(a *idsyncv1.App) {
			a.DirectoryTarget = &idsyncv1.DirectoryTarget{ParentDn: "OU=New"}
		}, ""},
		{"a field of a message", []string{"directory_target.parent_dn"}, func(a *idsyncv1.App) {
			a.DirectoryTarget.ParentDn = "OU=New"
		}, ""},
		{"a cleared field of a message", []string{"directory_target.rdn_attribute"}, func(a *idsyncv1.App) {
			a.DirectoryTarget.RdnAttribute = ""
		}, ""},
		{"no paths", nil, func(*idsyncv1.App) {}, ""},
		{"unknown", []string{"scim_url", "colour"}, nil, `update_mask: "colour" is not a field of App`},
		{"empty", []string{""}, nil, `update_mask: "" is not a field of App`},
		{"unknown field of a message", []string{"directory_target.colour"}, nil, `"directory_target.colour" is not a field of App`},
		{"through a list", []string{"mapping.target"}, nil, `"mapping.target" is not a field of App`},
		{"every field", []string{"*"}, nil, `"*" is not a field of App`},
		{"output only", []string{"status"}, nil, `update_mask: "status" cannot be changed`},
		{"output only map", []string{"accounts"}, nil, `"accounts" cannot be changed`},
		{"within output only", []string{"created_at.seconds"}, nil, `"created_at.seconds" cannot be changed`},
		{"the name", []string{"name"}, nil, `"name" cannot be changed`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mask := &fieldmaskpb.FieldMask{Paths: tt.paths}
			err := checkMask(request, mask, appFixed)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("checkMask(%q): %v, want an error containing %q", tt.paths, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("checkMask(%q): %v", tt.paths, err)
			}
			got, want := current(), current()
			req := proto.Clone(request)
			applyMask(got, req, mask)
			tt.want(want)
			if !proto.Equal(got, want) {
				t.Errorf("applyMask(%q):\n got %v\nwant %v", tt.paths, got, want)
			}
			if !proto.Equal(req, request) {
				t.Errorf("applyMask(%q) changed the request: %v", tt.paths, req)
			}
		})
	}
	t.Run("a field of a message neither sets", func(t *testing.T) {
		got := &idsyncv1.App{Name: "crm"}
		applyMask(got, &idsyncv1.App{Name: "crm"}, &fieldmaskpb.FieldMask{Paths: []string{"directory_target.parent_dn"}})
		if got.DirectoryTarget != nil {
			t.Errorf("directory_target %v, want it left unset", got.DirectoryTarget)
		}
	})
}

// TestFieldsSettable: every field of App and Directory is either one an
// update may set, which the conversion from the proto reads and the one to
// it shows back, or one the update refuses: a new setting cannot be
// silently dropped by an update.
func TestFieldsSettable(t *testing.T) {
	t.Run("App", func(t *testing.T) {
		checkSettable(t, &idsyncv1.App{}, appFixed, func(t *testing.T, m proto.Message) proto.Message {
			a, err := appFromProto(m.(*idsyncv1.App), nil)
			if err != nil {
				t.Fatalf("appFromProto(%v): %v", m, err)
			}
			return appToProto(a)
		})
	})
	t.Run("Directory", func(t *testing.T) {
		// write_back is applyWriteBack's.
		checkSettable(t, &idsyncv1.Directory{}, append(directoryFixed, "write_back"), func(_ *testing.T, m proto.Message) proto.Message {
			return directoryToProto(directoryFromProto(m.(*idsyncv1.Directory), nil))
		})
	})
}

// checkSettable sets each field of m's type but those of fixed, in turn, and
// checks that it comes back through roundTrip.
func checkSettable(t *testing.T, m proto.Message, fixed []string, roundTrip func(*testing.T, proto.Message) proto.Message) {
	fields := m.ProtoReflect().Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		name := string(fd.Name())
		if slices.Contains(fixed, name) {
			continue
		}
		t.Run(name, func(t *testing.T) {
			m := m.ProtoReflect().New()
			switch {
			case fd.IsList():
				l := m.Mutable(fd).List()
				if fd.Kind() == protoreflect.MessageKind {
					l.Append(l.NewElement())
				} else {
					l.Append(nonZero(fd))
				}
			case fd.Kind() == protoreflect.MessageKind:
				m.Mutable(fd)
			default:
				m.Set(fd, nonZero(fd))
			}
			if back := roundTrip(t, m.Interface()).ProtoReflect(); !back.Has(fd) {
				t.Errorf("%s set to %v does not come back: the conversion does not read it (add it, or refuse it in updates)", name, m.Get(fd))
			}
		})
	}
}

// nonZero is a value of fd's kind that is not the zero value.
func nonZero(fd protoreflect.FieldDescriptor) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(true)
	case protoreflect.StringKind:
		return protoreflect.ValueOfString("x")
	case protoreflect.EnumKind:
		return protoreflect.ValueOfEnum(1)
	case protoreflect.Uint32Kind:
		return protoreflect.ValueOfUint32(1)
	case protoreflect.Uint64Kind:
		return protoreflect.ValueOfUint64(1)
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(1)
	}
	panic("nonZero: no value of kind " + fd.Kind().String())
}

// TestAppRoundTrip: an app's settings shown and read back are the same, and
// what is not a setting stays: UpdateApp changes only what its mask names.
func TestAppRoundTrip(t *testing.T) {
	patch := true
	stored := &store.App{ID: 7, Name: "crm", SCIMURL: "https://crm.example/scim", AuthKind: "oauth2", Username: "cid",
		TokenURL: "https://login.example/token", Scopes: []string{"a", "b"}, Secret: []byte("sealed"),
		AllowCreate: true, AllowUpdate: true, AllowDeactivate: true, AllowDelete: true, PushGroups: true,
		UpdateMode: "patch", RateLimit: 2.5, Concurrency: 3, Mapping: []store.MappingRule{{Target: "userName", Expr: "email"}},
		MatchBy: "email", DeleteAfter: 30 * 24 * time.Hour, ReconcileInterval: 6 * time.Hour, PatchSupported: &patch,
		Target:            &store.DirectoryTarget{Directory: "corp", ParentDN: "OU=a", DisabledParentDN: "OU=b", RDNAttribute: "uid", DisableAttribute: "x=y", DisableGroupDN: "CN=g"},
		AllowInsecureHTTP: true, AllowLocalAddresses: true, Status: store.AppPaused, StatusMessage: "401",
		CreatedAt: time.Unix(1e9, 0), UpdatedAt: time.Unix(2e9, 0)}
	got, err := appFromProto(appToProto(stored), stored)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, stored) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, stored)
	}
	never := *stored
	never.ReconcileInterval = -1
	if got, err := appFromProto(appToProto(&never), &never); err != nil || got.ReconcileInterval != -1 {
		t.Errorf("never reconcile: %v, %v; want -1", got.ReconcileInterval, err)
	}
}

// TestDirectoryRoundTrip: a directory's settings shown and read back are
// the same, and what is not a setting stays.
func TestDirectoryRoundTrip(t *testing.T) {
	for _, full := range []time.Duration{6 * time.Hour, -1} {
		stored := &store.Directory{ID: 3, Name: "corp", Kind: store.KindAD, BaseDN: "dc=corp", UserFilter: "(u)", GroupFilter: "(g)",
			Mapping: store.Mapping{Username: "sAMAccountName", Email: "mail", GivenName: "givenName", FamilyName: "sn",
				DisplayName: "displayName", EmployeeNumber: "employeeID", Department: "department", Title: "title",
				Manager: "manager", GroupName: "cn", GroupDescription: "description", GroupMembers: []string{"member"},
				Extra: []string{"mobile"}},
			SafeguardPercent: 20, SafeguardMax: 500, CaptureStrategy: "dirsync", PollInterval: 5 * time.Second,
			FullImportInterval: full, CreatedAt: time.Unix(1e9, 0), Mastered: []string{"title"},
			WriteBack: &store.WriteBack{OUs: []string{"ou=a"}, InitialPassword: []byte("sealed"), MustChangePassword: true}}
		if got := directoryFromProto(directoryToProto(stored), stored); !reflect.DeepEqual(got, stored) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, stored)
		}
	}
}
