-- Issuing a challenge forgets the oldest open ones of its session, and a janitor deletes expired
-- ones. issued_at has whole seconds (it is part of the signed message), so the order of issue is
-- kept in a column of its own.
alter table challenges add column issue_order bigint generated always as identity;
create index challenges_open_by_session on challenges (session_id, issue_order) where spent_at is null;
drop index challenges_expiry;
create index challenges_expiry on challenges (host_id, expires_at);
