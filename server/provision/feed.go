package provision

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/idsync/idsync/server/store"
)

const (
	// feedCursor names the feed position provisioning has queued jobs for.
	feedCursor = "provision"
	// feedLease makes one hub replica consume the feed at a time.
	feedLease    = "provision-feed"
	feedLeaseTTL = 15 * time.Second
	feedPage     = 1000
)

// runFeed turns the store's change feed into push jobs: a changed user is
// pushed to every app it is in scope of or holds an account in; a changed
// group re-scopes the apps with assignments and re-pushes the groups they
// push. The cursor moves only after the jobs of a page are queued, so a
// crash queues them again (jobs coalesce; pushing twice changes nothing).
func (e *Engine) runFeed(ctx context.Context) {
	t := time.NewTicker(e.opts.PollInterval)
	defer t.Stop()
	for {
		if err := e.drainFeed(ctx); err != nil && ctx.Err() == nil {
			e.log.Warn("reading the change feed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-e.feedWake:
		case <-t.C:
		}
	}
}

func (e *Engine) drainFeed(ctx context.Context) error {
	held, err := e.st.TryLease(ctx, feedLease, e.opts.Owner, e.opts.Now(), feedLeaseTTL)
	if err != nil || !held {
		return err
	}
	pos, err := e.st.Cursor(ctx, feedCursor)
	if err != nil {
		return err
	}
	// With no app, no change calls for a job (queueChanges skips every
	// page): the cursor moves to the newest position, read before the
	// apps were, without reading the changes — a first import's 100,000
	// creates cost the hub a read of each otherwise. An app created
	// after has no account and nobody in scope until an assignment, whose
	// scope job reads everything as it then is.
	head, err := e.st.FeedPosition(ctx)
	if err != nil {
		return err
	}
	if apps, err := e.st.ListApps(ctx); err != nil || len(apps) == 0 {
		if err != nil || head <= pos {
			return err
		}
		return e.st.SetCursor(ctx, feedCursor, head)
	}
	for {
		changes, next, err := e.st.Changes(ctx, pos, feedPage)
		if err != nil {
			return err
		}
		if len(changes) == 0 {
			return nil
		}
		if err := e.queueChanges(ctx, changes); err != nil {
			return err
		}
		if err := e.st.SetCursor(ctx, feedCursor, next); err != nil {
			return err
		}
		pos = next
		if len(changes) < feedPage {
			return nil
		}
	}
}

// queueChanges queues the jobs a page of the feed calls for.
func (e *Engine) queueChanges(ctx context.Context, changes []store.ObjectChange) error {
	apps, err := e.st.ListApps(ctx)
	if err != nil || len(apps) == 0 {
		return err
	}
	assigned, err := e.st.ListAssignments(ctx, 0)
	if err != nil {
		return err
	}
	hasAssignments := map[int64]bool{}
	for _, a := range assigned {
		hasAssignments[a.AppID] = true
	}
	now := e.opts.Now()
	woken := map[int64]bool{}
	enqueue := func(appID int64, kind store.JobKind, target string) error {
		if _, err := e.st.Enqueue(ctx, appID, kind, target, now); err != nil {
			return fmt.Errorf("queueing %s %s of app %d: %w", kind, target, appID, err)
		}
		woken[appID] = true
		return nil
	}
	users := map[int64][]string{} // user pushes by app, queued together
	groupChanged := false
	rescope := map[int64]bool{}    // apps whose pushed groups a user change may move
	groups := map[int64][]string{} // group pushes by app: the changed groups it pushes
	for _, c := range changes {
		if c.Kind == store.ObjectGroup {
			groupChanged = true
			for _, a := range assigned {
				if a.Kind == store.AssignGroup && a.TargetID == c.ObjectID {
					groups[a.AppID] = append(groups[a.AppID], c.ObjectID)
				}
			}
			continue
		}
		inScope, err := e.st.AppsOfUser(ctx, c.ObjectID)
		if err != nil {
			return err
		}
		for _, a := range apps {
			want := slices.Contains(inScope, a.ID)
			if !want {
				_, err := e.st.GetAccount(ctx, a.ID, c.ObjectID)
				if isNotFound(err) {
					continue
				}
				if err != nil {
					return err
				}
			}
			users[a.ID] = append(users[a.ID], c.ObjectID)
			if a.PushGroups {
				rescope[a.ID] = true
			}
		}
	}
	for _, a := range apps {
		if ids := groups[a.ID]; a.PushGroups && len(ids) > 0 {
			// The group's members moved: push it at once, beside the
			// scope job (which may find users to push first).
			if err := e.st.EnqueueMany(ctx, a.ID, store.JobGroup, ids, now); err != nil {
				return fmt.Errorf("queueing %d group pushes of app %d: %w", len(ids), a.ID, err)
			}
			woken[a.ID] = true
		}
	}
	for appID, ids := range users {
		if err := e.st.EnqueueMany(ctx, appID, store.JobUser, ids, now); err != nil {
			return fmt.Errorf("queueing %d user pushes of app %d: %w", len(ids), appID, err)
		}
		woken[appID] = true
	}
	if groupChanged {
		// Membership moved: who is in scope, and what pushed groups hold,
		// may have changed. One scope job per app (they coalesce) finds out.
		for _, a := range apps {
			rescope[a.ID] = rescope[a.ID] || hasAssignments[a.ID]
		}
	}
	for _, a := range apps {
		if rescope[a.ID] {
			if err := enqueue(a.ID, store.JobReconcile, scopeTarget); err != nil {
				return err
			}
		}
	}
	for id := range woken {
		e.wakeApp(id)
	}
	return nil
}
