-- The same guarantee, a cheaper index. leases_no_overlap excluded (host_id =, ip =, reserved &&)
-- with the host id first: in a database of one host (or a few) that column is the same in every
-- entry, so GiST could not split on it and compared the 66-character text at every level for
-- nothing. With the address first the tree splits on what differs. Inserting 20,000 leases in one
-- statement: 0.8-2.3 s before, 0.3-0.9 s after (2 shared cores). The operators and columns are
-- unchanged, so exactly the same pairs of rows conflict; the constraint is swapped inside this
-- migration's transaction, so there is no moment without it.
alter table leases drop constraint leases_no_overlap;
alter table leases add constraint leases_no_overlap
    exclude using gist (ip with =, host_id with =, reserved with &&);

-- (host_id, ip, held_from) served no query: lookups by address go through the constraint's index,
-- the auditors' view through leases_by_host_text. One index fewer per allocated address.
drop index leases_by_ip;
