-- sessions_by_renter (host_id, renter, id) is covered by sessions_by_renter_created (host_id, renter,
-- created_at, id) of V31, which also serves the only query filtering by renter (the audit listing,
-- ordered by created_at). One index fewer for every session a backfill creates.
drop index sessions_by_renter;
