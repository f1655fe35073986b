package csvimport

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/idsync/idsync/server/ingest"
	"github.com/idsync/idsync/server/store"
)

// known is what a dry run needs of a user the hub holds.
type known struct {
	username string
	hash     string
	status   store.Status
	seen     bool
}

// preview says what importing the file would do, and writes nothing. A
// file that could not be imported is an error, as the run would fail.
func (s *Service) preview(ctx context.Context, sp *Spool, imp Import) (*Preview, error) {
	c, err := s.check(sp, imp)
	if err != nil {
		return nil, err
	}
	d := imp.Directory
	users := map[string]*known{}
	for after := ""; ; {
		page, err := s.st.ListUsers(ctx, store.UserFilter{DirectoryID: d.ID, AfterID: after, Limit: 1000})
		if err != nil {
			return nil, fmt.Errorf("reading the users of %s: %w", d.Name, err)
		}
		for _, u := range page {
			o := &store.Object{Kind: store.ObjectUser, ExternalID: u.ExternalID, DN: u.DN, Status: u.SourceStatus, Profile: u.Profile}
			if o.Status == "" {
				o.Status = u.Status
			}
			users[u.ExternalID] = &known{username: u.Username, hash: ingest.Hash(o), status: u.Status}
		}
		if len(page) < 1000 {
			break
		}
		after = page[len(page)-1].ID
	}
	p, err := s.open(sp, imp)
	if err != nil {
		return nil, err
	}
	defer p.done()
	pv := &Preview{Rows: c.rows, ErrorCount: int64(len(c.bad)), Errors: c.bad[:min(len(c.bad), previewErrors)]}
	add := func(list *[]string, name string) {
		if len(*list) < previewNames {
			*list = append(*list, name)
		}
	}
	for _, e := range c.bad {
		if k := users[e.ExternalID]; k != nil {
			k.seen = true // a bad row of a known user keeps it
		}
	}
	for {
		r, err := p.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if c.badLines[r.line] || r.obj == nil {
			continue
		}
		k := users[r.id]
		switch {
		case k == nil:
			pv.Created++
			add(&pv.CreatedUsers, r.obj.Profile.Username)
		case k.status == store.StatusDeprovisioned || k.hash != ingest.Hash(r.obj):
			k.seen = true
			pv.Updated++
			add(&pv.UpdatedUsers, r.obj.Profile.Username)
		default:
			k.seen = true
			pv.Unchanged++
		}
	}
	if !imp.Full {
		return pv, nil
	}
	var active int64
	for _, k := range users {
		if k.status == store.StatusDeprovisioned {
			continue
		}
		active++
		if !k.seen {
			pv.Deprovisioned++
			add(&pv.DeprovisionedUsers, k.username)
		}
	}
	// The read above is the one foreign makes before a run: the same
	// refusal, from the users already in hand.
	if pv.Deprovisioned == active {
		if err := foreignErr(imp, active); err != nil {
			return nil, err
		}
	}
	if msg, trip := ingest.Safeguard(d, store.SweepCount{Users: pv.Deprovisioned, ActiveUsers: active}); trip {
		pv.Safeguard = msg
	} else if pv.Deprovisioned > 0 && c.unidentified > 0 {
		pv.Safeguard = fmt.Sprintf("%d rows have no readable id: the sweep would wait for an admin's confirmation", c.unidentified)
	}
	return pv, nil
}
