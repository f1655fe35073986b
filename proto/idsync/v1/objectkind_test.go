package idsyncv1

import "testing"

func TestObjectKindNames(t *testing.T) {
	tests := []struct {
		name string
		kind ObjectKind
	}{
		{"user", ObjectKind_OBJECT_KIND_USER},
		{"group", ObjectKind_OBJECT_KIND_GROUP},
		{"", ObjectKind_OBJECT_KIND_UNSPECIFIED},
	}
	for _, tt := range tests {
		if got := ObjectKindNamed(tt.name); got != tt.kind {
			t.Errorf("ObjectKindNamed(%q) = %v, want %v", tt.name, got, tt.kind)
		}
		if got := ObjectKindName(tt.kind); got != tt.name {
			t.Errorf("ObjectKindName(%v) = %q, want %q", tt.kind, got, tt.name)
		}
	}
	for _, name := range []string{"User", "ObjectKind(0)", "computer"} {
		if got := ObjectKindNamed(name); got != ObjectKind_OBJECT_KIND_UNSPECIFIED {
			t.Errorf("ObjectKindNamed(%q) = %v, want OBJECT_KIND_UNSPECIFIED", name, got)
		}
	}
	if got := ObjectKindName(ObjectKind(7)); got != "" {
		t.Errorf("ObjectKindName(7) = %q, want \"\"", got)
	}
}
