package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"google.golang.org/protobuf/types/known/fieldmaskpb"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
)

// TestDirectoryUpdateRequest: directory update sends the Directory paths
// of the flags given as the update mask, each a path of Directory.
func TestDirectoryUpdateRequest(t *testing.T) {
	h, conf := startFakeHub(t)
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte(`"Initial-1"`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		args  []string
		paths []string
	}{
		{"settings", []string{"--base-dn", "dc=x", "--safeguard-percent", "30", "--capture", "auto", "--full-import-interval", "off",
			"--poll-interval", "2s", "--mastered", "title", "--user-filter", "(u)", "--group-filter", "(g)", "--safeguard-max", "9"},
			[]string{"base_dn", "capture_strategy", "full_import_interval_seconds", "group_filter", "mastered",
				"poll_interval_seconds", "safeguard_max", "safeguard_percent", "user_filter"}},
		{"mapping", []string{"--extra", "mobile", "--group-members", "member", "--map", "email=mail", "--map", "title=title"},
			[]string{"mapping.extra", "mapping.group_members", "mapping.email", "mapping.title"}},
		{"write-back", []string{"--writable-ou", "ou=a", "--writable-group", "cn=g", "--initial-password-file", pw,
			"--must-change-password=false"},
			[]string{"write_back.initial_password", "write_back.must_change_password", "write_back.groups", "write_back.ous"}},
		{"write-back off", []string{"--no-write-back"}, []string{"write_back"}},
		{"retention", []string{"--retention", "30d"}, []string{"retention_seconds"}},
		{"retention default", []string{"--retention", "default"}, []string{"retention_seconds"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := run(t.Context(), append([]string{"directory", "update", "corp", "--config", conf}, tc.args...), &out, &errOut); code != 0 {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			req, ok := h.lastUpdate().(*idsyncv1.UpdateDirectoryRequest)
			if !ok {
				t.Fatalf("the hub got %v, want an UpdateDirectoryRequest", h.lastUpdate())
			}
			paths := req.GetUpdateMask().GetPaths()
			if !slices.Equal(paths, tc.paths) {
				t.Errorf("update_mask %q, want %q", paths, tc.paths)
			}
			if _, err := fieldmaskpb.New(req.GetDirectory(), paths...); err != nil {
				t.Errorf("update_mask %q: not all of Directory: %v", paths, err)
			}
			want := map[string]uint64{"retention": 30 * 24 * 3600}[tc.name]
			if got := req.GetDirectory().GetRetentionSeconds(); got != want {
				t.Errorf("retention_seconds %d, want %d", got, want)
			}
		})
	}
}
