package people

import (
	"context"
	"errors"
	"fmt"

	"github.com/idsync/idsync/server/store"
)

// RuleGroupError refuses to change by hand the members of a group that a
// group rule masters (server/rules): its members are what the rule says.
type RuleGroupError struct {
	Group, Rule string
}

func (e *RuleGroupError) Error() string {
	return fmt.Sprintf("group %s is the group of rule %s: its members are what the rule says (idsyncctl group rule show %s); "+
		"change the rule, or remove it", e.Group, e.Rule, e.Rule)
}

// ruled refuses a group that a rule masters.
func (s *Service) ruled(ctx context.Context, g *store.Group) error {
	r, err := s.st.RuleOfGroup(ctx, g.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading the rule of group %s: %w", g.Name, err)
	}
	return &RuleGroupError{Group: g.Name, Rule: r.Name}
}
