// Package people is what an admin does to a person in the hub: deactivate
// and reactivate (a hold on top of what the user's directory says),
// suspend and unsuspend, restore within the retention. Each action is a
// run of kind admin with its audit event and its change in the feed, so
// the apps follow at once, exactly as for a directory's change.
//
// It may import server/store, server/provision (to disable an entry in a
// writable directory through its agents) and the wire types of
// proto/idsync/v1; never server/api, the gRPC transport, agent or
// ldapsync.
package people
