package api

import (
	"context"
	"errors"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/auth"
	"github.com/idsync/idsync/server/store"
)

// PauseApp stops the pushes to an app until it is resumed.
func (s *AppServer) PauseApp(ctx context.Context, req *idsyncv1.PauseAppRequest) (*idsyncv1.PauseAppResponse, error) {
	if err := checkReason(req.GetReason()); err != nil {
		return nil, err
	}
	a, err := s.app(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	if err := s.apps.Pause(ctx, a, req.GetReason(), auth.Actor(ctx)); err != nil {
		return nil, statusErr(err, "")
	}
	pa, err := s.describe(ctx, a)
	if err != nil {
		return nil, err
	}
	return &idsyncv1.PauseAppResponse{App: pa}, nil
}

// ResumeApp sets a paused app active again.
func (s *AppServer) ResumeApp(ctx context.Context, req *idsyncv1.ResumeAppRequest) (*idsyncv1.ResumeAppResponse, error) {
	a, err := s.app(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	if err := s.apps.Resume(ctx, a, auth.Actor(ctx)); err != nil {
		return nil, statusErr(err, "")
	}
	pa, err := s.describe(ctx, a)
	if err != nil {
		return nil, err
	}
	return &idsyncv1.ResumeAppResponse{App: pa}, nil
}

// accountStates are the states ListAccounts filters by.
var accountStates = []store.AccountState{store.AccountCreating, store.AccountActive, store.AccountDeactivated, store.AccountDeleted}

// ListAccounts lists a page of an app's accounts; a group-admin sees
// those of its groups' users only, read by their ids, so that neither the
// page nor its token reaches past them.
func (s *AppServer) ListAccounts(ctx context.Context, req *idsyncv1.ListAccountsRequest) (*idsyncv1.ListAccountsResponse, error) {
	a, err := s.app(ctx, req.GetApp())
	if err != nil {
		return nil, err
	}
	f := store.AccountFilter{AppID: a.ID, Limit: int(req.GetPageSize())}
	if st := req.GetState(); st != "" {
		f.State = store.AccountState(st)
		if !slices.Contains(accountStates, f.State) {
			return nil, status.Errorf(codes.InvalidArgument, "state %q: one of creating, active, deactivated, deleted", st)
		}
	}
	if f.Limit <= 0 {
		f.Limit = 50
	}
	f.Limit = min(f.Limit, maxSearchPage)
	scope, err := groupScopeOf(ctx, s.store)
	if err != nil {
		return nil, err
	}
	want := f.Limit
	// One more tells whether there is a next page.
	accounts, err := pageInScope(scope, req.GetPageToken(), want+1, func(ids []string, after string, limit int) ([]*store.Account, error) {
		f.UserIDs, f.AfterUserID, f.Limit = ids, after, limit
		return s.store.ListAccounts(ctx, f)
	})
	if err != nil {
		return nil, statusErr(err, "listing the accounts of app %s", a.Name)
	}
	resp := &idsyncv1.ListAccountsResponse{}
	if len(accounts) > want {
		accounts = accounts[:want]
		resp.NextPageToken = accounts[want-1].UserID
	}
	for _, ac := range accounts {
		p := &idsyncv1.AppAccount{UserId: ac.UserID, State: string(ac.State), RemoteId: ac.RemoteID, Linked: ac.Linked,
			LastError: ac.LastError, UpdatedAt: ts(ac.UpdatedAt)}
		if u, err := s.store.GetUser(ctx, ac.UserID); err == nil {
			p.User = u.Directory + "/" + u.Username
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, statusErr(err, "loading user %s", ac.UserID)
		}
		resp.Accounts = append(resp.Accounts, p)
	}
	return resp, nil
}
