package people

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/mail"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"unicode"

	"github.com/google/uuid"

	"github.com/idsync/idsync/server/ingest"
	"github.com/idsync/idsync/server/store"
)

// Users and groups made in the hub: a directory of kind local is mastered
// by the hub itself. Every write is one batch through the engine (a run of
// kind write, by the admin, with its lifecycle audit events and its change
// in the feed, so that provisioning follows), as the SCIM endpoint writes
// a source's objects: each object whole, hashed as the engine hashes, a
// group with its complete member set. A local group holds its members by
// id (store.IDMember), so it may hold users of any directory.

// Applier applies a batch to a directory as a run of kind write
// (ingest.Engine.ApplyWrite).
type Applier interface {
	ApplyWrite(ctx context.Context, d *store.Directory, trigger string, b *store.Batch) (store.BatchResult, error)
}

// ErrNotAGroup is returned for an id that is not a group of the hub.
var ErrNotAGroup = errors.New("no such group")

// ReadOnlyError refuses to write a user or group that a directory other
// than a local one masters, naming the directory and its kind.
type ReadOnlyError struct {
	// Object is what was to be written ("user alice", "group eng"), or ""
	// when a user or group was to be made in the directory.
	Object    string
	Directory string
	Kind      store.DirectoryKind
}

func (e *ReadOnlyError) Error() string {
	if e.Object == "" {
		return fmt.Sprintf("directory %s is of kind %s: it masters its own users and groups; the hub makes them only in a local directory",
			e.Directory, e.Kind)
	}
	return fmt.Sprintf("%s is of directory %s (kind %s): a directory's own users and groups stay read-only in the hub; "+
		"only a local directory's are written here", e.Object, e.Directory, e.Kind)
}

// FieldError refuses a value, naming its field.
type FieldError struct {
	Field string
	Why   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Why }

// Changes are profile fields to set, by name: "username", one of
// store.ProfileFields, or "extra.NAME"; an empty value clears the field
// (but for the username, which is required).
type Changes map[string]string

// extraName is the NAME of an "extra.NAME" field.
var extraName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,63}$`)

// Apply sets the changes on p, refusing an unknown field by its name.
func (c Changes) Apply(p *store.Profile) error {
	for _, name := range slices.Sorted(maps.Keys(c)) {
		v := strings.TrimSpace(c[name])
		if name == "username" {
			p.Username = v
			continue
		}
		if rest, ok := strings.CutPrefix(name, "extra."); ok {
			if !extraName.MatchString(rest) {
				return &FieldError{Field: name, Why: "an extra field's name is a letter, then letters, digits, - or _ (64 at most)"}
			}
			if p.Extra == nil {
				p.Extra = map[string][]string{}
			}
			delete(p.Extra, rest)
			if v != "" {
				p.Extra[rest] = []string{v}
			}
			continue
		}
		var empty store.Profile
		i := slices.IndexFunc(store.ProfileFieldsOf(p, &empty), func(f store.ProfileField) bool { return f.Name == name })
		if i < 0 {
			return &FieldError{Field: name, Why: fmt.Sprintf("no such field: use username, %s or extra.NAME",
				strings.Join(store.ProfileFields, ", "))}
		}
		*store.ProfileFieldsOf(p, &empty)[i].Dst = v
	}
	return nil
}

// validProfile checks what an admin gives a local user: a username
// without spaces, an email address when there is one, extra fields by
// name.
func validProfile(p *store.Profile) error {
	switch {
	case p.Username == "":
		return &FieldError{Field: "username", Why: "required"}
	case len(p.Username) > 256 || strings.ContainsFunc(p.Username, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		return &FieldError{Field: "username", Why: fmt.Sprintf("%q: at most 256 characters, no spaces or control characters", p.Username)}
	}
	if p.Email != "" {
		if a, err := mail.ParseAddress(p.Email); err != nil || a.Address != p.Email {
			return &FieldError{Field: "email", Why: fmt.Sprintf("%q is not an address (name@domain)", p.Email)}
		}
	}
	for k := range p.Extra {
		if !extraName.MatchString(k) {
			return &FieldError{Field: "extra." + k, Why: "an extra field's name is a letter, then letters, digits, - or _ (64 at most)"}
		}
	}
	return nil
}

// lock serialises this process's writes to one local directory: a write
// reads what it changes (a username's owner, a group's members) and
// writes the object whole, and two at once would lose one.
func (s *Service) lock(directoryID int64) func() {
	m, _ := s.locks.LoadOrStore(directoryID, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// localDirectory returns the directory named, refusing one that is not
// local.
func (s *Service) localDirectory(ctx context.Context, name string) (*store.Directory, error) {
	d, err := s.st.GetDirectory(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("directory %q: %w", name, err)
	}
	if err != nil {
		return nil, err
	}
	if d.Kind != store.KindLocal {
		return nil, &ReadOnlyError{Directory: d.Name, Kind: d.Kind}
	}
	return d, nil
}

// home returns the directory (by id) of object ("user alice"), refusing
// one that is not local.
func (s *Service) home(ctx context.Context, directoryID int64, object string) (*store.Directory, error) {
	d, err := s.st.GetDirectoryByID(ctx, directoryID)
	if err != nil {
		return nil, fmt.Errorf("directory of %s: %w", object, err)
	}
	if d.Kind != store.KindLocal {
		return nil, &ReadOnlyError{Object: object, Directory: d.Name, Kind: d.Kind}
	}
	return d, nil
}

// user returns a user by id; an unknown one is ErrNotAUser.
func (s *Service) user(ctx context.Context, userID string) (*store.User, error) {
	u, err := s.st.GetUser(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("user %s: %w", userID, ErrNotAUser)
	}
	return u, err
}

// localUser returns a user of a local directory, and its directory.
func (s *Service) localUser(ctx context.Context, userID string) (*store.User, *store.Directory, error) {
	u, err := s.user(ctx, userID)
	if err != nil {
		return nil, nil, err
	}
	d, err := s.home(ctx, u.DirectoryID, "user "+u.Username)
	return u, d, err
}

// nameFree refuses a username another user of the directory holds
// (case-insensitively), a deprovisioned one included: it is restored, not
// made again, until it is purged.
func (s *Service) nameFree(ctx context.Context, d *store.Directory, name, self string) error {
	us, err := s.st.FindUsers(ctx, d.ID, name)
	if err != nil {
		return fmt.Errorf("finding users named %q: %w", name, err)
	}
	for _, u := range us {
		if u.ID == self {
			continue
		}
		why := fmt.Sprintf("%q is taken in %s by user %s", name, d.Name, u.ID)
		if u.Status == store.StatusDeprovisioned {
			why += " (deprovisioned: restore it, or wait for its purge)"
		}
		return fmt.Errorf("%w: %w", &FieldError{Field: "username", Why: why}, store.ErrConflict)
	}
	return nil
}

// userObject is the object of a local user: the hub made its external
// id, and it has no DN.
func userObject(ext string, p store.Profile) *store.Object {
	o := &store.Object{Kind: store.ObjectUser, ExternalID: ext, Status: store.StatusActive, Profile: p}
	o.Hash = ingest.Hash(o)
	return o
}

// write applies one batch to a local directory by actor: the run's
// trigger, and who its audit events are by. An object written since it
// was read (its IfRevision) is errStale.
func (s *Service) write(ctx context.Context, d *store.Directory, actor string, b *store.Batch) error {
	if s.apply == nil {
		return fmt.Errorf("writing to directory %s: the service has no engine (Config.Apply)", d.Name)
	}
	b.Actor = actor
	_, err := s.apply.ApplyWrite(ctx, d, actor, b)
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("%w: %w", errStale, err)
	}
	return err
}

// errStale is a write made from a read that another write (another
// replica's: this one's are serialised by lock) overtook.
var errStale = errors.New("changed since it was read")

// tries is how many times a change made from a read is tried.
const tries = 5

// again calls try until it is not stale, tries times at most.
func again[T any](try func() (T, error)) (T, error) {
	for n := 1; ; n++ {
		v, err := try()
		if !errors.Is(err, errStale) || n == tries {
			return v, err
		}
	}
}

// CreateUser makes a user in a local directory, by actor ("admin:NAME"):
// a username (required, unique in the directory whatever its case),
// an email address when given, any profile field and extra fields. The
// hub makes its external id. It is assigned and pushed like any user.
func (s *Service) CreateUser(ctx context.Context, directory string, p store.Profile, actor string) (*store.User, error) {
	d, err := s.localDirectory(ctx, directory)
	if err != nil {
		return nil, err
	}
	p.Username = strings.TrimSpace(p.Username)
	if err := validProfile(&p); err != nil {
		return nil, err
	}
	defer s.lock(d.ID)()
	if err := s.nameFree(ctx, d, p.Username, ""); err != nil {
		return nil, err
	}
	o := userObject(uuid.NewString(), p)
	if err := s.write(ctx, d, actor, &store.Batch{Upserts: []*store.Object{o}}); err != nil {
		return nil, fmt.Errorf("creating user %s in %s: %w", p.Username, d.Name, err)
	}
	us, err := s.st.FindUsers(ctx, d.ID, p.Username)
	if err != nil {
		return nil, fmt.Errorf("reading back user %s: %w", p.Username, err)
	}
	for _, u := range us {
		if u.ExternalID == o.ExternalID {
			s.log.Info("user created", "user", u.ID, "username", u.Username, "directory", d.Name, "by", actor)
			return u, nil
		}
	}
	return nil, fmt.Errorf("user %s of %s is not in the store after its write", p.Username, d.Name)
}

// UpdateUser changes fields of a local user, by actor. A deprovisioned
// user is refused: Restore it first. Changing nothing writes nothing.
func (s *Service) UpdateUser(ctx context.Context, userID string, c Changes, actor string) (*store.User, error) {
	_, d, err := s.localUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	defer s.lock(d.ID)()
	return again(func() (*store.User, error) { return s.updateUser(ctx, d, userID, c, actor) })
}

// updateUser is one try of UpdateUser: read, change, write if the user
// was not written since the read.
func (s *Service) updateUser(ctx context.Context, d *store.Directory, userID string, c Changes, actor string) (*store.User, error) {
	u, err := s.st.GetUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	if u.Status == store.StatusDeprovisioned {
		return nil, &StateError{User: u, Why: "it is deprovisioned: restore it to change it"}
	}
	p := u.Profile
	p.Extra = cloneExtra(u.Extra)
	if err := c.Apply(&p); err != nil {
		return nil, err
	}
	if err := validProfile(&p); err != nil {
		return nil, err
	}
	if reflect.DeepEqual(p, u.Profile) {
		return u, nil
	}
	if !strings.EqualFold(p.Username, u.Username) {
		if err := s.nameFree(ctx, d, p.Username, u.ID); err != nil {
			return nil, err
		}
	}
	o := userObject(u.ExternalID, p)
	o.IfRevision = u.Revision
	if err := s.write(ctx, d, actor, &store.Batch{Upserts: []*store.Object{o}}); err != nil {
		return nil, fmt.Errorf("updating user %s: %w", u.Username, err)
	}
	return s.st.GetUser(ctx, userID)
}

func cloneExtra(e map[string][]string) map[string][]string {
	if e == nil {
		return nil
	}
	out := make(map[string][]string, len(e))
	for k, v := range e {
		out[k] = slices.Clone(v)
	}
	return out
}

// DeleteUser deletes a local user, by actor: it is deprovisioned, in the
// hub and in every app, and keeps its profile and groups until its
// retention ends and it is purged; Restore brings it back before then. A
// user deleted already is left as it is.
func (s *Service) DeleteUser(ctx context.Context, userID, actor string) (*store.User, error) {
	u, d, err := s.localUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	if u.SourceStatus == store.StatusDeprovisioned {
		return u, nil
	}
	b := &store.Batch{Deletes: []string{u.ExternalID}}
	if u.Status == store.StatusDeprovisioned {
		// Held deprovisioned already: no change of status for the
		// lifecycle events to tell, but the delete is the admin's.
		b.Audit = []*store.AuditEvent{{Action: "user.deprovisioned", Target: "user:" + u.Username,
			Detail: fmt.Sprintf("deleted in directory %s (held %s by %s already)", d.Name, u.Hold.Status, u.Hold.By)}}
	}
	if err := s.write(ctx, d, actor, b); err != nil {
		return nil, fmt.Errorf("deleting user %s: %w", u.Username, err)
	}
	s.log.Info("user deleted: deprovisioned until its retention ends", "user", u.ID, "username", u.Username, "directory", d.Name, "by", actor)
	return s.st.GetUser(ctx, userID)
}

// restoreLocal writes a deleted user of local directory d back, active,
// by actor.
func (s *Service) restoreLocal(ctx context.Context, u *store.User, d *store.Directory, actor string) (*store.User, error) {
	defer s.lock(d.ID)()
	if err := s.write(ctx, d, actor, &store.Batch{Upserts: []*store.Object{userObject(u.ExternalID, u.Profile)}}); err != nil {
		return nil, fmt.Errorf("restoring user %s: %w", u.Username, err)
	}
	return s.st.GetUser(ctx, u.ID)
}

// localGroup returns a group of a local directory that is not
// deprovisioned, and its directory.
func (s *Service) localGroup(ctx context.Context, groupID string) (*store.Group, *store.Directory, error) {
	g, err := s.st.GetGroup(ctx, groupID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, fmt.Errorf("group %s: %w", groupID, ErrNotAGroup)
	}
	if err != nil {
		return nil, nil, err
	}
	d, err := s.home(ctx, g.DirectoryID, "group "+g.Name)
	if err != nil {
		return nil, nil, err
	}
	if g.Status == store.StatusDeprovisioned {
		return nil, nil, fmt.Errorf("group %s of %s is deprovisioned", g.Name, d.Name)
	}
	return g, d, nil
}

// groupObject is the object of a local group with its complete member
// set, by id, in key order (as a mapping orders them).
func groupObject(g *store.Group, members []store.MemberRef) *store.Object {
	slices.SortFunc(members, func(a, b store.MemberRef) int { return strings.Compare(a.Key, b.Key) })
	o := &store.Object{Kind: store.ObjectGroup, ExternalID: g.ExternalID, Status: store.StatusActive, Name: g.Name,
		Description: g.Description, Members: members, MembersComplete: true}
	o.Hash = ingest.Hash(o)
	return o
}

// CreateGroup makes an empty group in a local directory, by actor: a
// name unique among the directory's groups whatever its case.
func (s *Service) CreateGroup(ctx context.Context, directory, name, actor string) (*store.Group, error) {
	d, err := s.localDirectory(ctx, directory)
	if err != nil {
		return nil, err
	}
	name = strings.TrimSpace(name)
	if name == "" || strings.ContainsFunc(name, unicode.IsControl) || len(name) > 256 {
		return nil, &FieldError{Field: "name", Why: fmt.Sprintf("%q: required, at most 256 characters, no control characters", name)}
	}
	defer s.lock(d.ID)()
	gs, err := s.st.FindGroups(ctx, d.ID, name)
	if err != nil {
		return nil, fmt.Errorf("finding groups named %q: %w", name, err)
	}
	if len(gs) > 0 {
		return nil, fmt.Errorf("%w: %w", &FieldError{Field: "name", Why: fmt.Sprintf("%q is taken in %s by group %s", name, d.Name, gs[0].ID)},
			store.ErrConflict)
	}
	o := groupObject(&store.Group{ExternalID: uuid.NewString(), Name: name}, nil)
	b := &store.Batch{Upserts: []*store.Object{o},
		Audit: []*store.AuditEvent{{Action: "group.created", Target: "group:" + name, Detail: "in local directory " + d.Name}}}
	if err := s.write(ctx, d, actor, b); err != nil {
		return nil, fmt.Errorf("creating group %s in %s: %w", name, d.Name, err)
	}
	gs, err = s.st.FindGroups(ctx, d.ID, name)
	if err != nil {
		return nil, fmt.Errorf("reading back group %s: %w", name, err)
	}
	for _, g := range gs {
		if g.ExternalID == o.ExternalID {
			return g, nil
		}
	}
	return nil, fmt.Errorf("group %s of %s is not in the store after its write", name, d.Name)
}

// AddMember adds a user of any directory to a local group, by actor. A
// member already is left as it is.
func (s *Service) AddMember(ctx context.Context, groupID, userID, actor string) (*store.Group, error) {
	return s.member(ctx, groupID, userID, actor, true)
}

// RemoveMember removes a user from a local group, by actor. A user that
// is not a member is left as it is.
func (s *Service) RemoveMember(ctx context.Context, groupID, userID, actor string) (*store.Group, error) {
	return s.member(ctx, groupID, userID, actor, false)
}

func (s *Service) member(ctx context.Context, groupID, userID, actor string, add bool) (*store.Group, error) {
	g, d, err := s.localGroup(ctx, groupID)
	if err != nil {
		return nil, err
	}
	if err := s.ruled(ctx, g); err != nil {
		return nil, err
	}
	u, err := s.user(ctx, userID)
	if err != nil {
		return nil, err
	}
	if add && u.Status == store.StatusDeprovisioned {
		return nil, &StateError{User: u, Why: "it is deprovisioned: restore it to add it to a group"}
	}
	defer s.lock(d.ID)()
	return again(func() (*store.Group, error) { return s.setMember(ctx, d, groupID, u, actor, add) })
}

// setMember is one try of AddMember or RemoveMember: read the group and
// its members, write the new set if the group was not written since.
func (s *Service) setMember(ctx context.Context, d *store.Directory, groupID string, u *store.User, actor string, add bool) (*store.Group, error) {
	g, err := s.st.GetGroup(ctx, groupID)
	if err != nil {
		return nil, err
	}
	ms, err := s.st.GroupMembers(ctx, g.ID)
	if err != nil {
		return nil, err
	}
	// The set as it is, by id; a row naming an object no longer there
	// (purged) goes.
	var members []store.MemberRef
	had := false
	for _, m := range ms {
		switch {
		case m.ID == u.ID:
			had = true
		case m.ID != "":
			members = append(members, store.IDMember(m.ID))
		}
	}
	if had == add {
		return g, nil
	}
	action, done, doing := "group.member_removed", "removed", "removing"
	if add {
		members = append(members, store.IDMember(u.ID))
		action, done, doing = "group.member_added", "added", "adding"
	}
	o := groupObject(g, members)
	o.IfRevision = g.Revision
	b := &store.Batch{Upserts: []*store.Object{o}, Audit: []*store.AuditEvent{{Action: action,
		Target: "group:" + g.Name, Detail: fmt.Sprintf("user %s (%s) of directory %s %s, in local directory %s",
			u.Username, u.ID, u.Directory, done, d.Name)}}}
	if err := s.write(ctx, d, actor, b); err != nil {
		return nil, fmt.Errorf("%s user %s, group %s: %w", doing, u.Username, g.Name, err)
	}
	return s.st.GetGroup(ctx, g.ID)
}
