package storetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/server/store"
)

var notifyTests = []test{
	{"ChannelsAndDigests", testNotifyDigests},
	{"NoticeKeyOnce", testNotifyKeyOnce},
	{"ClaimRetryDead", testNotifyClaim},
	{"AppPausedOnce", testNotifyAppPaused},
	{"ImportPaused", testNotifyImportPaused},
	{"ImportFailed", testNotifyImportFailed},
	{"DispatchConcurrently", testNotifyDispatchConcurrently},
	{"PushDead", testNotifyPushDead},
}

// testNotifyPushDead: a push dead-lettered records a notice naming the
// user (by username), the app, the error and the retry command.
func testNotifyPushDead(t *testing.T, s store.Store) {
	ctx := t.Context()
	w := newAppWorld(t, s)
	c := addChannel(t, s, "ops", 0, store.NoticePushDead)
	j := enqueue(t, s, w.crm.ID, store.JobUser, w.alice.ID, at(0))
	claim(t, s, w.crm.ID, "w1", at(0), 10)
	must(t, "DeadJob", s.DeadJob(ctx, j.ID, "w1", "400: invalid userName", at(time.Hour)))
	notices := dispatchedNotices(t, s, c)
	if len(notices) != 1 {
		t.Fatalf("notices = %+v, want one", notices)
	}
	nt := notices[0]
	if nt.App != "crm" || nt.Subject != "alice" || nt.Ref != fmt.Sprintf("job:%d", j.ID) || !strings.Contains(nt.Detail, "400: invalid userName") ||
		!strings.Contains(nt.Detail, fmt.Sprintf("idsyncctl push retry %d", j.ID)) {
		t.Errorf("notice = %+v; want alice's crm push, its error and the retry command", nt)
	}
}

// testNotifyDispatchConcurrently: two hubs filing notices at once file
// each once, into one digest, and neither fails.
func testNotifyDispatchConcurrently(t *testing.T, s store.Store) {
	ctx := t.Context()
	c := addChannel(t, s, "ops", time.Minute, store.NoticeAppPaused)
	const n = 60
	for i := range n {
		_, err := s.RecordNotice(ctx, &store.Notice{Kind: store.NoticeAppPaused, Subject: fmt.Sprint("app", i)})
		must(t, "RecordNotice", err)
	}
	now := time.Now()
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			for {
				got, err := s.DispatchNotices(ctx, now, 7)
				if err != nil || got == 0 {
					errs <- err
					return
				}
			}
		}()
	}
	for range 2 {
		must(t, "DispatchNotices (concurrently)", <-errs)
	}
	ds, err := s.ListDeliveries(ctx, c.ID, 0)
	must(t, "ListDeliveries", err)
	if len(ds) != 1 || ds[0].Events != n {
		t.Fatalf("deliveries = %+v; want one digest of %d notices", ds, n)
	}
	notices, err := s.DeliveryNotices(ctx, ds[0].ID, 0)
	must(t, "DeliveryNotices", err)
	seen := map[string]bool{}
	for _, nt := range notices {
		seen[nt.Subject] = true
	}
	if len(notices) != n || len(seen) != n {
		t.Errorf("the digest holds %d notices, %d different; want each of %d once", len(notices), len(seen), n)
	}
}

// testNotifyImportPaused: a run paused by the safeguard records a notice
// naming its directory, the counts and the commands, with the run's id in
// them.
func testNotifyImportPaused(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s, "corp")
	c := addChannel(t, s, "ops", 0, store.NoticeImportPaused)
	run := f.run(store.RunFull)
	_, err := s.TransitionRun(ctx, run.ID, []store.RunState{store.RunRunning}, store.RunUpdate{State: store.RunPausedBySafeguard,
		Message: "the sweep would deprovision 40 of 100 active users; confirm with `idsyncctl import confirm RUN` or cancel with `idsyncctl import cancel RUN`"})
	must(t, "TransitionRun(paused)", err)
	notices := dispatchedNotices(t, s, c)
	want := fmt.Sprintf("the sweep would deprovision 40 of 100 active users; confirm with `idsyncctl import confirm %d` "+
		"or cancel with `idsyncctl import cancel %d`", run.ID, run.ID)
	if len(notices) != 1 || notices[0].Subject != "corp" || notices[0].Ref != fmt.Sprintf("run:%d", run.ID) || notices[0].Detail != want {
		t.Errorf("notices = %+v; want corp's run %d with %q", notices, run.ID, want)
	}
}

// testNotifyImportFailed: a full run that fails records a notice naming
// its directory and why; an incremental run that fails (a capture that
// breaks, retried at once) records none.
func testNotifyImportFailed(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s, "corp")
	c := addChannel(t, s, "ops", 0, store.NoticeImportFailed)
	full := f.run(store.RunFull)
	why := `binding to ldap://dc1:389 as "cn=sync": invalid credentials`
	_, err := s.TransitionRun(ctx, full.ID, []store.RunState{store.RunRunning}, store.RunUpdate{State: store.RunFailed, Message: why, Finished: true})
	must(t, "TransitionRun(failed)", err)
	inc := f.run(store.RunIncremental)
	_, err = s.TransitionRun(ctx, inc.ID, []store.RunState{store.RunRunning}, store.RunUpdate{State: store.RunFailed, Message: "capture broke", Finished: true})
	must(t, "TransitionRun(failed incremental)", err)
	notices := dispatchedNotices(t, s, c)
	if len(notices) != 1 || notices[0].Kind != store.NoticeImportFailed || notices[0].Subject != "corp" ||
		notices[0].Ref != fmt.Sprintf("run:%d", full.ID) || notices[0].Detail != why {
		t.Errorf("notices = %+v; want corp's run %d failed with %q, and nothing of the incremental run", notices, full.ID, why)
	}
}

// testNotifyAppPaused: an app paused records one notice with the answer;
// paused again while paused, none.
func testNotifyAppPaused(t *testing.T, s store.Store) {
	ctx := t.Context()
	w := newAppWorld(t, s)
	c := addChannel(t, s, "ops", 0, store.NoticeAppPaused)
	must(t, "SetAppStatus(paused)", s.SetAppStatus(ctx, w.crm.ID, store.AppPaused, "401 Unauthorized"))
	must(t, "SetAppStatus(paused again)", s.SetAppStatus(ctx, w.crm.ID, store.AppPaused, "403 Forbidden"))
	notices := dispatchedNotices(t, s, c)
	if len(notices) != 1 || notices[0].App != "crm" || notices[0].Detail != "401 Unauthorized" {
		t.Errorf("notices = %+v; want crm paused once, with the 401", notices)
	}
}

// dispatchedNotices files the pending notices and returns those of
// channel c's one delivery.
func dispatchedNotices(t *testing.T, s store.Store, c *store.NotifyChannel) []*store.Notice {
	t.Helper()
	ctx := t.Context()
	_, err := s.DispatchNotices(ctx, time.Now(), 100)
	must(t, "DispatchNotices", err)
	ds, err := s.ListDeliveries(ctx, c.ID, 0)
	must(t, "ListDeliveries", err)
	if len(ds) != 1 {
		t.Fatalf("deliveries = %+v, want one", ds)
	}
	notices, err := s.DeliveryNotices(ctx, ds[0].ID, 0)
	must(t, "DeliveryNotices", err)
	return notices
}

// addChannel adds a webhook channel that wants events, gathering for
// digest.
func addChannel(t *testing.T, s store.Store, name string, digest time.Duration, events ...string) *store.NotifyChannel {
	t.Helper()
	c := &store.NotifyChannel{Name: name, Kind: store.ChannelWebhook, Webhook: &store.WebhookConfig{URL: "https://hooks.example.org/" + name},
		Secret: []byte("sealed"), Events: events, Digest: digest, AllowLocal: true}
	must(t, "CreateChannel "+name, s.CreateChannel(t.Context(), c))
	return c
}

// testNotifyDigests: a task opened records its notice in its transaction;
// dispatching files notices into the collecting delivery of each channel
// that wants their kind, which is claimed only once its window ended.
func testNotifyDigests(t *testing.T, s store.Store) {
	ctx := t.Context()
	w := newAppWorld(t, s) // opens a deprovision task for bob in each app
	tasks := addChannel(t, s, "tasks", time.Minute, store.NoticeTaskOpened)
	addChannel(t, s, "agents", 0, store.NoticeAgentOffline)
	err := s.CreateChannel(ctx, &store.NotifyChannel{Name: "tasks", Kind: store.ChannelWebhook, Webhook: &store.WebhookConfig{}})
	wantErr(t, "CreateChannel(taken name)", err, store.ErrConflict)
	got, err := s.GetChannel(ctx, "tasks")
	must(t, "GetChannel", err)
	if got.ID != tasks.ID || got.Webhook.URL != tasks.Webhook.URL || string(got.Secret) != "sealed" || got.Digest != time.Minute ||
		!got.AllowLocal || fmt.Sprint(got.Events) != "[task.opened]" {
		t.Errorf("GetChannel = %+v, want it as created: %+v", got, tasks)
	}
	_, err = s.CreateTask(ctx, &store.Task{AppID: w.crm.ID, UserID: w.alice.ID, Kind: "deprovision", Detail: "by hand"})
	must(t, "CreateTask", err)
	now := time.Now()
	n, err := s.DispatchNotices(ctx, now, 100)
	must(t, "DispatchNotices", err)
	if n < 1 {
		t.Fatalf("DispatchNotices = %d, want the task notices", n)
	}
	if again, err := s.DispatchNotices(ctx, now, 100); err != nil || again != 0 {
		t.Errorf("DispatchNotices again = %d, %v; want nothing left", again, err)
	}
	ds, err := s.ListDeliveries(ctx, tasks.ID, 0)
	must(t, "ListDeliveries", err)
	if len(ds) != 1 || ds[0].State != store.DeliveryCollecting || ds[0].Events != int64(n) || !sameTime(ds[0].DueAt, now.Add(time.Minute)) {
		t.Fatalf("deliveries = %+v; want one collecting %d notices, due in a minute", ds, n)
	}
	notices, err := s.DeliveryNotices(ctx, ds[0].ID, 0)
	must(t, "DeliveryNotices", err)
	last := notices[len(notices)-1]
	if last.Kind != store.NoticeTaskOpened || last.App != "crm" || last.Subject != "alice" || last.Detail != "by hand" {
		t.Errorf("the last notice = %+v, want alice's crm task", last)
	}
	counts, err := s.DeliveryCounts(ctx, ds[0].ID)
	must(t, "DeliveryCounts", err)
	var total int64
	for _, c := range counts {
		total += c.Count
	}
	if total != int64(n) {
		t.Errorf("DeliveryCounts = %+v, want %d in all", counts, n)
	}
	if claimed, err := s.ClaimDeliveries(ctx, "hub-a", now, time.Minute, 10); err != nil || len(claimed) != 0 {
		t.Errorf("ClaimDeliveries within the window = %v, %v; want none", claimed, err)
	}
	claimed, err := s.ClaimDeliveries(ctx, "hub-a", now.Add(2*time.Minute), time.Minute, 10)
	must(t, "ClaimDeliveries", err)
	if len(claimed) != 1 || claimed[0].ID != ds[0].ID || claimed[0].Attempts != 1 {
		t.Fatalf("ClaimDeliveries after the window = %+v, want the digest", claimed)
	}
	// A notice after the claim opens the next digest.
	_, err = s.CreateTask(ctx, &store.Task{AppID: w.billing.ID, UserID: w.alice.ID, Kind: "deprovision"})
	must(t, "CreateTask", err)
	_, err = s.DispatchNotices(ctx, now.Add(2*time.Minute), 100)
	must(t, "DispatchNotices", err)
	ds, err = s.ListDeliveries(ctx, tasks.ID, 0)
	must(t, "ListDeliveries", err)
	if len(ds) != 2 || ds[0].State != store.DeliveryCollecting || ds[0].Events != 1 || ds[1].State != store.DeliveryRunning {
		t.Errorf("deliveries = %+v; want a new collecting one and the running one", ds)
	}
	must(t, "DeleteChannel", s.DeleteChannel(ctx, "tasks"))
	wantErr(t, "GetChannel(removed)", func() error { _, err := s.GetChannel(ctx, "tasks"); return err }(), store.ErrNotFound)
	wantErr(t, "DeleteChannel(removed)", s.DeleteChannel(ctx, "tasks"), store.ErrNotFound)
}

// testNotifyKeyOnce: a notice with a key is recorded once.
func testNotifyKeyOnce(t *testing.T, s store.Store) {
	ctx := t.Context()
	for i, want := range []bool{true, false} {
		ok, err := s.RecordNotice(ctx, &store.Notice{Kind: store.NoticeAgentOffline, Subject: "dc1", Key: "agent.offline:ag-1:5"})
		must(t, "RecordNotice", err)
		if ok != want {
			t.Errorf("RecordNotice #%d = %v, want %v", i+1, ok, want)
		}
	}
	ok, err := s.RecordNotice(ctx, &store.Notice{Kind: store.NoticeAgentOffline, Subject: "dc1", Key: "agent.offline:ag-1:9"})
	if err != nil || !ok {
		t.Errorf("RecordNotice(another silence) = %v, %v; want recorded", ok, err)
	}
}

// testNotifyClaim: a claimed delivery is not claimed again while its lease
// runs; a failure queues it for later, a release hands it back, a dead one
// is retried by an admin.
func testNotifyClaim(t *testing.T, s store.Store) {
	ctx := t.Context()
	c := addChannel(t, s, "ops", 0, store.NoticeAppPaused)
	_, err := s.RecordNotice(ctx, &store.Notice{Kind: store.NoticeAppPaused, Subject: "crm"})
	must(t, "RecordNotice", err)
	now := time.Now()
	_, err = s.DispatchNotices(ctx, now, 10)
	must(t, "DispatchNotices", err)
	a, err := s.ClaimDeliveries(ctx, "hub-a", now, time.Minute, 10)
	must(t, "ClaimDeliveries(a)", err)
	b, err := s.ClaimDeliveries(ctx, "hub-b", now, time.Minute, 10)
	must(t, "ClaimDeliveries(b)", err)
	if len(a) != 1 || len(b) != 0 {
		t.Fatalf("claims = %d and %d, want the delivery once", len(a), len(b))
	}
	id := a[0].ID
	wantErr(t, "FinishDelivery(not the owner)", s.FinishDelivery(ctx, id, "hub-b", now, store.DeliveryEnd{}), store.ErrConflict)
	must(t, "FinishDelivery(retry)", s.FinishDelivery(ctx, id, "hub-a", now, store.DeliveryEnd{Err: "503", NextAt: now.Add(time.Minute)}))
	if got, err := s.ClaimDeliveries(ctx, "hub-a", now, time.Minute, 10); err != nil || len(got) != 0 {
		t.Errorf("ClaimDeliveries before its next attempt = %v, %v; want none", got, err)
	}
	a, err = s.ClaimDeliveries(ctx, "hub-a", now.Add(2*time.Minute), time.Minute, 10)
	must(t, "ClaimDeliveries(again)", err)
	if len(a) != 1 || a[0].Attempts != 2 || a[0].LastError != "503" {
		t.Fatalf("second claim = %+v; want attempt 2 after the 503", a)
	}
	n, err := s.ReleaseDeliveries(ctx, "hub-a", now.Add(2*time.Minute))
	if err != nil || n != 1 {
		t.Errorf("ReleaseDeliveries = %d, %v; want 1", n, err)
	}
	a, err = s.ClaimDeliveries(ctx, "hub-a", now.Add(2*time.Minute), time.Minute, 10)
	must(t, "ClaimDeliveries(released)", err)
	if len(a) != 1 {
		t.Fatalf("claim after release = %+v; want it", a)
	}
	must(t, "FinishDelivery(dead)", s.FinishDelivery(ctx, id, "hub-a", now, store.DeliveryEnd{Err: "503", Dead: true}))
	n, err = s.RetryDeadDeliveries(ctx, c.ID, now.Add(3*time.Minute))
	if err != nil || n != 1 {
		t.Errorf("RetryDeadDeliveries = %d, %v; want 1", n, err)
	}
	a, err = s.ClaimDeliveries(ctx, "hub-b", now.Add(3*time.Minute), time.Minute, 10)
	must(t, "ClaimDeliveries(retried)", err)
	if len(a) != 1 || a[0].Attempts != 1 {
		t.Fatalf("claim after the admin's retry = %+v; want attempt 1", a)
	}
	must(t, "FinishDelivery(sent)", s.FinishDelivery(ctx, id, "hub-b", now.Add(3*time.Minute), store.DeliveryEnd{}))
	ds, err := s.ListDeliveries(ctx, c.ID, 0)
	must(t, "ListDeliveries", err)
	if len(ds) != 1 || ds[0].State != store.DeliverySent || ds[0].SentAt.IsZero() {
		t.Errorf("deliveries = %+v; want it sent", ds)
	}
}
