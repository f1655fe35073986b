package api

import (
	"fmt"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

// checkKnown refuses an update whose request has fields this hub does not
// know: an older client's field list, or a newer client's field, would be
// dropped, and the update half applied.
func checkKnown(req proto.Message) error {
	if len(req.ProtoReflect().GetUnknown()) > 0 {
		return status.Error(codes.InvalidArgument,
			"update: the request has fields this hub does not know (an idsyncctl of another version?): nothing changed")
	}
	return nil
}

// checkMask checks the paths of an update mask (AIP-134) against m's type:
// each names a field of m, or a field of one of its message fields
// ("directory_target.parent_dn"), and none starts with a field of fixed
// (the resource's name, and what the hub reports). An error names the
// path.
func checkMask(m proto.Message, mask *fieldmaskpb.FieldMask, fixed []string) error {
	name := m.ProtoReflect().Descriptor().Name()
	for _, p := range mask.GetPaths() {
		if _, err := fieldmaskpb.New(m, p); err != nil {
			return fmt.Errorf("update_mask: %q is not a field of %s", p, name)
		}
		if top, _, _ := strings.Cut(p, "."); slices.Contains(fixed, top) {
			return fmt.Errorf("update_mask: %q cannot be changed", p)
		}
	}
	return nil
}

// applyMask copies into dst the fields of src that the paths of mask name
// (checked by checkMask), dst and src of one type. A named field that src
// leaves unset is cleared in dst; a field of a message field that neither
// sets stays unset.
func applyMask(dst, src proto.Message, mask *fieldmaskpb.FieldMask) {
	src = proto.Clone(src) // dst shares the values copied: none of the caller's
	for _, p := range mask.GetPaths() {
		copyPath(dst.ProtoReflect(), src.ProtoReflect(), strings.Split(p, "."))
	}
}

func copyPath(dst, src protoreflect.Message, path []string) {
	fd := dst.Descriptor().Fields().ByName(protoreflect.Name(path[0]))
	switch {
	case len(path) > 1:
		if src.Has(fd) || dst.Has(fd) {
			copyPath(dst.Mutable(fd).Message(), src.Get(fd).Message(), path[1:])
		}
	case src.Has(fd):
		dst.Set(fd, src.Get(fd))
	default:
		dst.Clear(fd)
	}
}
