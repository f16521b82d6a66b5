package com.gpuflow.agent.rental;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.atomic.AtomicInteger;

import com.gpuflow.agent.audit.AuditKind;
import com.gpuflow.agent.audit.AuditLog;
import com.gpuflow.agent.config.AgentSettings;
import com.gpuflow.agent.ipam.Leases;
import com.gpuflow.agent.keys.RenterKeyVault;
import com.gpuflow.agent.keys.WireGuardKeys;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.stereotype.Component;

/**
 * Applies confirmed chain events and the passing of time to sessions. Every method runs inside the
 * caller's transaction, writes the audit trail for what it changed, and reports whether the set of
 * peers the interface should carry may have changed.
 */
@Component
public class SessionLifecycle {

	private static final Logger log = LoggerFactory.getLogger(SessionLifecycle.class);

	private static final String COLUMNS = "id, rental_id, renter, state, ends_at, key_source, peer_public_key, "
			+ "sealed_private_key is not null as has_sealed_key, host(tunnel_ip) as tunnel_ip";

	private final JdbcClient jdbc;

	private final AuditLog audit;

	private final Leases leases;

	private final RenterKeyVault keys;

	private final String hostId;

	private final String contract;

	SessionLifecycle(JdbcClient jdbc, AuditLog audit, Leases leases, RenterKeyVault keys, AgentSettings settings) {
		this.jdbc = jdbc;
		this.audit = audit;
		this.leases = leases;
		this.keys = keys;
		this.hostId = settings.hostId();
		this.contract = settings.rentalContract();
	}

	/** A RentalCreated of this host, confirmed, with the id of its chain_events row and where it came from. */
	public record Confirmed(long eventId, RentalEvent.Created event, String origin) {
	}

	/**
	 * RentalCreated events of this host, confirmed, in chain order. Set-based: a backfill range of
	 * thousands of rentals costs a handful of statements, not several per rental.
	 */
	public void created(List<Confirmed> confirmed, Instant now, Leases.Allocation addresses) {
		created(confirmed, now, addresses, prepare(confirmed.stream().map(Confirmed::event).toList(), now, false));
	}

	/**
	 * Session ids and generated keys for RentalCreated events about to be applied, made before the
	 * events are stored. With {@code async} the keys are generated on another core while the caller
	 * goes on writing (a backfill of 20,000 rentals spends about 0.7 s of CPU on keys, which then
	 * overlaps PostgreSQL storing the events). An id or key prepared for an event that turns out to
	 * be stored already is simply never used: no row, no key anywhere.
	 */
	public Prepared prepare(List<RentalEvent.Created> events, Instant now, boolean async) {
		int n = events.size();
		IdentityHashMap<RentalEvent.Created, Integer> index = new IdentityHashMap<>(n);
		for (int i = 0; i < n; i++) {
			index.put(events.get(i), i);
		}
		if (n == 0) {
			return new Prepared(index, new Long[0], new KeyBatch(events, new Long[0], now));
		}
		Long[] ids = jdbc.sql("select nextval('sessions_id_seq') from generate_series(1, ?)")
			.param(n)
			.query(Long.class)
			.list()
			.toArray(Long[]::new);
		KeyBatch batch = new KeyBatch(events, ids, now);
		if (async && n >= 256) {
			ForkJoinPool.commonPool().execute(batch::work);
		}
		else {
			batch.work();
		}
		return new Prepared(index, ids, batch);
	}

	/** What {@link #prepare} made: a session id per event and, where the agent generates it, a sealed key pair. */
	public static final class Prepared {

		private final IdentityHashMap<RentalEvent.Created, Integer> index;

		private final Long[] ids;

		private final KeyBatch pairs;

		Prepared(IdentityHashMap<RentalEvent.Created, Integer> index, Long[] ids, KeyBatch pairs) {
			this.index = index;
			this.ids = ids;
			this.pairs = pairs;
		}

		int slot(RentalEvent.Created event) {
			Integer i = index.get(event);
			if (i == null) {
				throw new IllegalArgumentException("rental " + event.rentalId() + " was not prepared");
			}
			return i;
		}

		RenterKeyVault.SealedPair[] pairs() {
			return pairs.join();
		}

	}

	/**
	 * Key pairs made in chunks by whoever takes them: a pool thread while the caller writes, then the
	 * caller too once it needs them, so no core waits while keys remain to be made.
	 */
	private final class KeyBatch {

		private static final int CHUNK = 128;

		private final List<RentalEvent.Created> events;

		private final Long[] ids;

		private final Instant now;

		private final RenterKeyVault.SealedPair[] pairs;

		private final AtomicInteger next = new AtomicInteger();

		private final AtomicInteger done = new AtomicInteger();

		private volatile RuntimeException failure;

		KeyBatch(List<RentalEvent.Created> events, Long[] ids, Instant now) {
			this.events = events;
			this.ids = ids;
			this.now = now;
			this.pairs = new RenterKeyVault.SealedPair[events.size()];
		}

		void work() {
			int n = events.size();
			int start;
			while ((start = next.getAndAdd(CHUNK)) < n) {
				int end = Math.min(n, start + CHUNK);
				try {
					if (keys.canGenerate()) {
						for (int i = start; i < end; i++) {
							RentalEvent.Created event = events.get(i);
							if (!event.renterGaveKey() && event.endsAt().isAfter(now)) {
								pairs[i] = keys.generate(ids[i]);
							}
						}
					}
				}
				catch (RuntimeException e) {
					failure = e;
				}
				finally {
					synchronized (this) {
						done.addAndGet(end - start);
						notifyAll();
					}
				}
			}
		}

		RenterKeyVault.SealedPair[] join() {
			work();
			synchronized (this) {
				while (done.get() < events.size()) {
					try {
						wait();
					}
					catch (InterruptedException e) {
						Thread.currentThread().interrupt();
						throw new IllegalStateException("interrupted while generating renter keys", e);
					}
				}
			}
			if (failure != null) {
				throw failure;
			}
			// done is written under the monitor after each chunk's pairs: they are visible here.
			return pairs;
		}

	}

	/** As {@link #created(List, Instant, Leases.Allocation)}, with ids and keys from {@link #prepare}. */
	public void created(List<Confirmed> confirmed, Instant now, Leases.Allocation addresses, Prepared prepared) {
		if (confirmed.isEmpty()) {
			return;
		}
		int n = confirmed.size();
		String[] rentalIds = confirmed.stream().map(c -> c.event().rentalId().toString()).toArray(String[]::new);
		Map<String, Instant> seenAt = new HashMap<>();
		jdbc.sql("""
				delete from pending_rentals where host_id = ? and contract = ? and rental_id = any(?::numeric[])
				returning rental_id::text, first_seen_at""")
			.params(hostId, contract, rentalIds)
			.query((rs, i) -> seenAt.put(rs.getString(1), rs.getTimestamp(2).toInstant()))
			.list();

		Long[] sessionIds = new Long[n];
		RenterKeyVault.SealedPair[] preparedPairs = prepared.pairs();
		RenterKeyVault.SealedPair[] generated = new RenterKeyVault.SealedPair[n];
		for (int i = 0; i < n; i++) {
			int slot = prepared.slot(confirmed.get(i).event());
			sessionIds[i] = prepared.ids[slot];
			generated[i] = preparedPairs[slot];
		}
		String[] renters = new String[n];
		String[] states = new String[n];
		String[] startsAt = new String[n];
		String[] endsAt = new String[n];
		Long[] eventIds = new Long[n];
		String[] keySources = new String[n];
		String[] publicKeys = new String[n];
		byte[][] sealedKeys = new byte[n][];
		String[] createdAt = new String[n];
		String[] tunnelIps = new String[n];
		Boolean[] poolExhausted = new Boolean[n];
		List<AuditLog.Entry> entries = new ArrayList<>(2 * n);
		for (int i = 0; i < n; i++) {
			RentalEvent.Created event = confirmed.get(i).event();
			long sessionId = sessionIds[i];
			boolean active = event.endsAt().isAfter(now);
			String keyProblem = null;
			if (event.renterGaveKey()) {
				keySources[i] = "RENTER";
				try {
					publicKeys[i] = WireGuardKeys.validatePublicKey(event.renterKey());
				}
				catch (IllegalArgumentException e) {
					keyProblem = "renter key rejected: " + e.getMessage();
				}
			}
			else {
				keySources[i] = "GENERATED";
				if (active && keys.canGenerate()) {
					RenterKeyVault.SealedPair pair = generated[i];
					publicKeys[i] = pair.publicKey();
					sealedKeys[i] = pair.sealedPrivateKey();
				}
				else if (active) {
					keyProblem = "no key generated: GPUFLOW_KEY_ENCRYPTION_KEY is not set";
				}
			}
			if (keyProblem != null) {
				log.warn("Rental {}: {}", event.rentalId(), keyProblem);
			}
			renters[i] = event.renter();
			states[i] = active ? "ACTIVE" : "EXPIRED";
			startsAt[i] = event.startsAt().toString();
			endsAt[i] = event.endsAt().toString();
			eventIds[i] = confirmed.get(i).eventId();
			createdAt[i] = seenAt.getOrDefault(event.rentalId().toString(), now).toString();
			if (active) {
				tunnelIps[i] = addresses.lease(sessionId).orElse(null);
			}
			poolExhausted[i] = active && tunnelIps[i] == null;
			entries.add(new AuditLog.Entry(sessionId, event.rentalId(), AuditKind.CREATED, confirmed.get(i).origin()
					+ " renter " + event.renter() + " ends " + event.endsAt() + (keyProblem == null ? "" : "; " + keyProblem)));
			entries.add(new AuditLog.Entry(sessionId, event.rentalId(), AuditKind.CONFIRMED, ""));
			if (!active) {
				entries.add(new AuditLog.Entry(sessionId, event.rentalId(), AuditKind.EXPIRED, "already over when confirmed"));
			}
		}
		jdbc.sql("""
				insert into sessions (id, host_id, contract, rental_id, renter, state, starts_at, ends_at, created_event_id,
				                      key_source, peer_public_key, sealed_private_key, created_at, confirmed_at,
				                      ended_at, end_reason, tunnel_ip, pool_exhausted)
				select id, ?, ?, rental_id::numeric, renter, state, starts_at::timestamptz, ends_at::timestamptz, event_id,
				       key_source, public_key, sealed, created_at::timestamptz, ?,
				       case when state = 'EXPIRED' then ends_at::timestamptz end,
				       case when state = 'EXPIRED' then 'expired' end, tunnel_ip::inet, exhausted
				from unnest(?::bigint[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::bigint[], ?::text[],
				            ?::text[], ?::bytea[], ?::text[], ?::text[], ?::boolean[])
				  as t(id, rental_id, renter, state, starts_at, ends_at, event_id, key_source, public_key, sealed,
				       created_at, tunnel_ip, exhausted)""")
			.params(hostId, contract, ts(now), sessionIds, rentalIds, renters, states, startsAt, endsAt, eventIds, keySources,
					publicKeys, sealedKeys, createdAt, tunnelIps, poolExhausted)
			.update();
		// The leases now, not at the end of the range: a later event in it may end one of these sessions.
		addresses.finish();
		audit.appendAll(entries);
	}

	/** A RentalExtended of one of this host's rentals, confirmed. */
	public boolean extended(RentalEvent.Extended event, Instant now, Leases.Allocation addresses) {
		Optional<Session> found = live(event.rentalId());
		if (found.isEmpty()) {
			return false;
		}
		Session session = found.get();
		if (!event.endsAt().isAfter(session.endsAt())) {
			return false;
		}
		jdbc.sql("update sessions set ends_at = ? where id = ?").params(ts(event.endsAt()), session.id()).update();
		audit.append(session.id(), session.rentalId(), AuditKind.EXTENDED, "ends " + event.endsAt());
		if (session.state() == SessionState.EXPIRED && event.endsAt().isAfter(now)) {
			// Our clock passed the old end before the extension was confirmed; the chain says it runs on.
			reopen(session, addresses, "extension confirmed after local expiry");
		}
		return true;
	}

	/** A RentalEnded of one of this host's rentals, confirmed. */
	public boolean ended(RentalEvent.Ended event, Instant now) {
		Optional<Session> found = live(event.rentalId());
		if (found.isEmpty()) {
			return false;
		}
		Session session = found.get();
		if (session.state() == SessionState.EXPIRED && event.endedAt().isBefore(session.endsAt())) {
			// The chain ended it before its endsAt, but the event reached us only after our clock had
			// expired it (a slow or failing node). Access is already gone; the record follows the chain.
			jdbc.sql("update sessions set state = 'ENDED', end_reason = 'ended' where id = ? and state = 'EXPIRED'")
				.param(session.id())
				.update();
			audit.append(session.id(), session.rentalId(), AuditKind.ENDED,
					"on chain at " + event.endedAt() + ", before ends_at; learned after local expiry");
			return true;
		}
		if (session.state() != SessionState.ACTIVE) {
			audit.append(session.id(), session.rentalId(), AuditKind.ENDED, "on chain at " + event.endedAt() + ", already "
					+ session.state().name().toLowerCase());
			return false;
		}
		close(session, SessionState.ENDED, "ended", now, now);
		audit.append(session.id(), session.rentalId(), AuditKind.ENDED, "on chain at " + event.endedAt());
		return true;
	}

	/** See {@link AuditLog#lockChain()}: call first in a transaction that changes sessions. */
	public void lockAuditChain() {
		audit.lockChain();
	}

	/** Sessions whose endsAt has passed by the agent's clock: no block is needed for a rental to expire. */
	public int expireDue(Instant now) {
		List<Session> due = jdbc.sql("select " + COLUMNS + " " + """
				 from sessions where host_id = ? and state = 'ACTIVE' and ends_at <= ? order by ends_at for update skip locked""")
			.params(hostId, ts(now))
			.query(SessionLifecycle::row)
			.list();
		for (Session session : due) {
			close(session, SessionState.EXPIRED, "expired", session.endsAt(), now);
			audit.append(session.id(), session.rentalId(), AuditKind.EXPIRED, "ends_at " + session.endsAt());
		}
		return due.size();
	}

	/** Gives an address to active sessions still waiting for one (the pool was full). */
	public int assignWaitingAddresses(Instant now) {
		List<Long> waiting = jdbc.sql("""
				select id from sessions where host_id = ? and state = 'ACTIVE' and tunnel_ip is null and ends_at > ?
				order by id""")
			.params(hostId, ts(now))
			.query(Long.class)
			.list();
		if (waiting.isEmpty()) {
			return 0;
		}
		Leases.Allocation addresses = leases.begin(now);
		int assigned = 0;
		for (long id : waiting) {
			if (!assignAddress(id, addresses)) {
				break;
			}
			assigned++;
		}
		addresses.finish();
		return assigned;
	}

	/** The RentalCreated that made this session was on blocks a reorganisation dropped. */
	public void createdOrphaned(long createdEventId, Instant now) {
		jdbc.sql("select " + COLUMNS + " from sessions where created_event_id = ? and state <> 'REORGED_OUT'")
			.param(createdEventId)
			.query(SessionLifecycle::row)
			.optional()
			.ifPresent(session -> {
				close(session, SessionState.REORGED_OUT, "reorged_out", now, now);
				audit.append(session.id(), session.rentalId(), AuditKind.REORGED_OUT, "RentalCreated orphaned");
			});
	}

	/** An extension or end of this rental was on dropped blocks: recompute from the events still live. */
	public void laterEventOrphaned(BigInteger rentalId, String kind, Instant now, Leases.Allocation addresses) {
		Optional<Session> found = live(rentalId);
		if (found.isEmpty()) {
			return;
		}
		Session session = found.get();
		if (kind.equals("RentalExtended")) {
			Instant endsAt = jdbc.sql("""
					select max((payload->>'endsAt')::bigint) from chain_events
					where host_id = ? and contract = ? and rental_id = ? and orphaned_at is null
					  and kind in ('RentalCreated', 'RentalExtended')""")
				.params(hostId, contract, new BigDecimal(rentalId))
				.query(Long.class)
				.optional()
				.map(Instant::ofEpochSecond)
				.orElse(session.endsAt());
			jdbc.sql("update sessions set ends_at = ? where id = ?").params(ts(endsAt), session.id()).update();
			audit.append(session.id(), rentalId, AuditKind.REORGED_OUT, "RentalExtended orphaned; ends " + endsAt);
			// An ACTIVE session whose end moved into the past expires on the next sweep.
		}
		else if (kind.equals("RentalEnded") && session.state() == SessionState.ENDED) {
			audit.append(session.id(), rentalId, AuditKind.REORGED_OUT, "RentalEnded orphaned");
			if (session.endsAt().isAfter(now)) {
				reopen(session, addresses, "its end was orphaned");
			}
			else {
				jdbc.sql("update sessions set state = 'EXPIRED', end_reason = 'expired', ended_at = ends_at where id = ?")
					.param(session.id())
					.update();
			}
		}
	}

	public Optional<Session> live(BigInteger rentalId) {
		return jdbc.sql("select " + COLUMNS + " " + """
				 from sessions where host_id = ? and contract = ? and rental_id = ? and state <> 'REORGED_OUT'""")
			.params(hostId, contract, new BigDecimal(rentalId))
			.query(SessionLifecycle::row)
			.optional();
	}

	private boolean assignAddress(long sessionId, Leases.Allocation addresses) {
		Optional<String> ip = addresses.lease(sessionId);
		addresses.finish();
		if (ip.isPresent()) {
			jdbc.sql("update sessions set tunnel_ip = ?::inet, pool_exhausted = false where id = ?")
				.params(ip.get(), sessionId)
				.update();
			return true;
		}
		jdbc.sql("update sessions set pool_exhausted = true where id = ?").param(sessionId).update();
		return false;
	}

	private void reopen(Session session, Leases.Allocation addresses, String why) {
		jdbc.sql("update sessions set state = 'ACTIVE', ended_at = null, end_reason = null, tunnel_ip = null where id = ?")
			.param(session.id())
			.update();
		log.info("Rental {} active again: {}", session.rentalId(), why);
		assignAddress(session.id(), addresses);
	}

	/**
	 * Ends access: the lease is released (the address then rests), an undelivered generated key is
	 * destroyed. The reconciler removes the peer because the session is no longer desired.
	 */
	private void close(Session session, SessionState state, String reason, Instant endedAt, Instant now) {
		jdbc.sql("""
				update sessions set state = ?, end_reason = ?, ended_at = ?,
				       sealed_private_key = null,
				       key_destroyed_at = case when sealed_private_key is not null then ? else key_destroyed_at end
				where id = ?""")
			.params(state.name(), reason, ts(endedAt), ts(now), session.id())
			.update();
		leases.release(session.id(), now);
		if (session.hasSealedKey()) {
			audit.append(session.id(), session.rentalId(), AuditKind.KEY_DESTROYED, "undelivered generated key");
		}
	}

	static Session row(ResultSet rs, int rowNum) throws SQLException {
		return new Session(rs.getLong("id"), rs.getBigDecimal("rental_id").toBigIntegerExact(), rs.getString("renter"),
				SessionState.valueOf(rs.getString("state")), rs.getTimestamp("ends_at").toInstant(),
				rs.getString("key_source"), rs.getString("peer_public_key"), rs.getBoolean("has_sealed_key"),
				rs.getString("tunnel_ip"));
	}

	static Timestamp ts(Instant instant) {
		return instant == null ? null : Timestamp.from(instant);
	}

}
