-- A backfill appends tens of thousands of audit rows in one transaction; the per-row trigger (an
-- advisory lock call, an index probe for the previous hash, a sha256 in PL/pgSQL) was the largest
-- single cost of ingesting a rental (20,000 rentals: 1.9 s of 6 s). The agent now chains a batch
-- itself, under the same per-host advisory lock: it draws the ids, reads the previous hash once and
-- computes hash = sha256(prev_hash || utf8(audit_row_text(row))) in Java, exactly as the verifier does.
--
-- The database still guarantees the chain:
-- * a row inserted without a hash is chained by the trigger as before (any other writer);
-- * a statement that brings its own hashes is checked once, set-based, after it ran: every row
--   must link to the host's row before it and hash to what it claims, and its ids must come from
--   the sequence (not beyond it) and lie above every earlier row of the host; otherwise the whole
--   statement, and with it the transaction, fails;
-- * UPDATE, DELETE and TRUNCATE are still refused, and GET /v1/audit/verify recomputes everything.

drop trigger audit_log_chain on audit_log;
create trigger audit_log_chain before insert on audit_log
    for each row when (new.hash is null) execute function audit_chain();

create or replace function audit_head_follow() returns trigger language plpgsql as $$
declare
    bad record;
    last_drawn bigint;
begin
    select last_value into last_drawn from audit_log_id_seq;
    select a.id, a.why into bad
    from (
        select x.id,
               case
                   when x.id > last_drawn then 'id not drawn from the sequence'
                   when x.hash is distinct from sha256(x.prev_hash || convert_to(
                            -- audit_row_text(x) of V31, spelled out: the function is not inlined
                            -- (date_trunc on timestamptz is only stable) and cost 5x as much
                            x.id::text || '|' || x.host_id || '|' || coalesce(x.session_id::text, '') || '|'
                            || coalesce(x.rental_id::text, '') || '|'
                            || (extract(epoch from date_trunc('second', x.at))::bigint * 1000000
                                + extract(microseconds from x.at)::bigint % 1000000)::text
                            || '|' || x.kind || '|' || x.detail, 'UTF8'))
                       then 'hash does not match the row'
                   when x.prev_hash is distinct from coalesce(
                            lag(x.hash) over w,
                            (select p.hash from audit_log p where p.host_id = x.host_id and p.id < x.id
                             order by p.id desc limit 1),
                            decode(repeat('00', 32), 'hex'))
                       then 'prev_hash is not the hash of the previous row'
                   when lag(x.id) over w is null
                        and (select count(*) from audit_log p where p.host_id = x.host_id and p.id >= x.id)
                            <> count(*) over (partition by x.host_id)
                       then 'another row of the host lies at or after this statement''s first row'
               end as why
        from appended x
        window w as (partition by x.host_id order by x.id)
    ) a
    where a.why is not null
    order by a.id
    limit 1;
    if found then
        raise exception 'audit_log row % refused: %', bad.id, bad.why using errcode = 'integrity_constraint_violation';
    end if;
    insert into audit_head (host_id, last_id, last_hash)
    select distinct on (host_id) host_id, id, hash from appended order by host_id, id desc
    on conflict (host_id) do update set last_id = excluded.last_id, last_hash = excluded.last_hash;
    return null;
end
$$;
