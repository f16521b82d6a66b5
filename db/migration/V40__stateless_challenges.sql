-- Challenges are no longer stored when issued: a nonce carries a MAC the agent checks, and only a
-- presented (spent) nonce is kept, until it expires, so that it cannot be used twice.
drop table challenges;

create table spent_nonces (
    nonce      text primary key,
    host_id    text not null,
    expires_at timestamptz not null
);
create index spent_nonces_expiry on spent_nonces (host_id, expires_at);
