package com.gpuflow.agent.rental;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

import com.gpuflow.agent.audit.AuditLog;
import com.gpuflow.agent.config.AgentSettings;
import com.gpuflow.agent.ipam.Leases;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.stereotype.Component;

/**
 * The rows of the {@code sessions} table: the one place that reads and writes them. Decisions come
 * from {@link SessionRules}; this class only turns them into statements, leases and audit lines.
 * Every method runs in the caller's transaction; a caller that changes sessions takes the audit
 * chain lock first ({@link AuditLog#lockChain()}), so every writer locks in one order.
 */
@Component
class SessionRows {

	private static final Logger log = LoggerFactory.getLogger(SessionRows.class);

	static final String COLUMNS = "id, rental_id, renter, state, starts_at, ends_at, ended_at, end_reason, key_source,"
			+ " peer_public_key, sealed_private_key is not null as has_sealed_key, config_delivered_at,"
			+ " host(tunnel_ip) as tunnel_ip, pool_exhausted, key_rejected";

	/** A session is live unless a reorganisation removed it; a rental id has at most one live session. */
	static final String LIVE = "state <> 'REORGED_OUT'";

	private final JdbcClient jdbc;

	private final AuditLog audit;

	private final Leases leases;

	private final String hostId;

	private final String contract;

	@Autowired
	SessionRows(JdbcClient jdbc, AuditLog audit, Leases leases, AgentSettings settings) {
		this(jdbc, audit, leases, settings.hostId(), settings.rentalContract());
	}

	/** The rows of one host of a shared database, with that host's audit log and leases. */
	SessionRows(JdbcClient jdbc, AuditLog audit, Leases leases, String hostId, String contract) {
		this.jdbc = jdbc;
		this.audit = audit;
		this.leases = leases;
		this.hostId = hostId;
		this.contract = contract;
	}

	String hostId() {
		return hostId;
	}

	String contract() {
		return contract;
	}

	JdbcClient jdbc() {
		return jdbc;
	}

	Optional<Session> live(BigInteger rentalId) {
		return jdbc.sql("select " + COLUMNS + " from sessions where host_id = ? and contract = ? and rental_id = ? and "
				+ LIVE)
			.params(hostId, contract, new BigDecimal(rentalId))
			.query(SessionRows::session)
			.optional();
	}

	Optional<Session> createdBy(long createdEventId) {
		return jdbc.sql("select " + COLUMNS + " from sessions where created_event_id = ? and " + LIVE)
			.param(createdEventId)
			.query(SessionRows::session)
			.optional();
	}

	/** Of the given rental ids, those with a live session here. */
	Set<String> liveRentalIds(Collection<String> rentalIds) {
		return new HashSet<>(jdbc.sql("select rental_id::text from sessions"
				+ " where host_id = ? and contract = ? and rental_id = any(?::numeric[]) and " + LIVE)
			.params(hostId, contract, rentalIds.toArray(String[]::new))
			.query(String.class)
			.list());
	}

	/** Of the given public keys, those a session of this host that is not over holds. */
	Set<String> keysInUse(Collection<String> publicKeys) {
		if (publicKeys.isEmpty()) {
			return Set.of();
		}
		return new HashSet<>(jdbc.sql("""
				select peer_public_key from sessions
				where host_id = ? and state = 'ACTIVE' and peer_public_key = any(?)""")
			.params(hostId, publicKeys.toArray(String[]::new))
			.query(String.class)
			.list());
	}

	/** Whether any session is due to expire or waits for an address: most reconcile passes find none. */
	boolean anythingToSettle(Instant now) {
		return jdbc.sql("""
				select exists (select 1 from sessions where host_id = ? and state = 'ACTIVE' and ends_at <= ?)
				    or exists (select 1 from sessions where host_id = ? and state = 'ACTIVE' and tunnel_ip is null)""")
			.params(hostId, ts(now), hostId)
			.query(Boolean.class)
			.single();
	}

	/** Active sessions whose end has passed, locked; a concurrent settler skips them. */
	List<Session> due(Instant now) {
		return jdbc.sql("select " + COLUMNS + " from sessions where host_id = ? and state = 'ACTIVE' and ends_at <= ?"
				+ " order by ends_at for update skip locked")
			.params(hostId, ts(now))
			.query(SessionRows::session)
			.list();
	}

	List<Session> waitingForAddress(Instant now) {
		return jdbc.sql("select " + COLUMNS + " from sessions where host_id = ? and state = 'ACTIVE' and tunnel_ip is null"
				+ " and ends_at > ? order by id")
			.params(hostId, ts(now))
			.query(SessionRows::session)
			.list();
	}

	Long[] newIds(int count) {
		return jdbc.sql("select nextval('sessions_id_seq') from generate_series(1, ?)")
			.param(count)
			.query(Long.class)
			.list()
			.toArray(Long[]::new);
	}

	/**
	 * Stores new sessions with one statement (a backfill range of thousands of rentals costs a
	 * handful of statements, not several per rental), their leases, and their audit lines.
	 * @param firstSeen when each rental (by id) was first seen unconfirmed; absent ones were seen now
	 */
	void insert(List<SessionRules.NewSession> sessions, Map<String, Instant> firstSeen, Instant now,
			Leases.Allocation addresses) {
		int n = sessions.size();
		Long[] ids = new Long[n];
		String[] rentalIds = new String[n];
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
		String[] keyRejected = new String[n];
		List<AuditLog.Entry> entries = new ArrayList<>(2 * n);
		for (int i = 0; i < n; i++) {
			SessionRules.NewSession session = sessions.get(i);
			RentalEvent.Created event = session.event();
			ids[i] = session.id();
			rentalIds[i] = event.rentalId().toString();
			renters[i] = event.renter();
			states[i] = session.state().name();
			startsAt[i] = event.startsAt().toString();
			endsAt[i] = event.endsAt().toString();
			eventIds[i] = session.createdEventId();
			keySources[i] = session.keySource();
			publicKeys[i] = session.publicKey();
			sealedKeys[i] = session.sealedPrivateKey();
			createdAt[i] = firstSeen.getOrDefault(rentalIds[i], now).toString();
			tunnelIps[i] = session.needsAddress() ? addresses.pick(session.id()).orElse(null) : null;
			poolExhausted[i] = session.needsAddress() && tunnelIps[i] == null;
			keyRejected[i] = session.keyRejected();
			for (SessionRules.Note note : session.notes()) {
				entries.add(new AuditLog.Entry(session.id(), event.rentalId(), note.kind(), note.detail()));
			}
		}
		jdbc.sql("""
				insert into sessions (id, host_id, contract, rental_id, renter, state, starts_at, ends_at, created_event_id,
				                      key_source, peer_public_key, sealed_private_key, created_at, confirmed_at,
				                      ended_at, end_reason, tunnel_ip, pool_exhausted, key_rejected)
				select id, ?, ?, rental_id::numeric, renter, state, starts_at::timestamptz, ends_at::timestamptz, event_id,
				       key_source, public_key, sealed, created_at::timestamptz, ?,
				       case when state = 'EXPIRED' then ends_at::timestamptz end,
				       case when state = 'EXPIRED' then 'expired' end, tunnel_ip::inet, exhausted, rejected
				from unnest(?::bigint[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::bigint[], ?::text[],
				            ?::text[], ?::bytea[], ?::text[], ?::text[], ?::boolean[], ?::text[])
				  as t(id, rental_id, renter, state, starts_at, ends_at, event_id, key_source, public_key, sealed,
				       created_at, tunnel_ip, exhausted, rejected)""")
			.params(hostId, contract, ts(now), ids, rentalIds, renters, states, startsAt, endsAt, eventIds, keySources,
					publicKeys, sealedKeys, createdAt, tunnelIps, poolExhausted, keyRejected)
			.update();
		// Now, not at the end of the range: the lease rows need their sessions, and a later event in
		// the range may end one of these sessions and release its lease.
		addresses.writePicked();
		audit.appendAll(entries);
	}

	/** Carries out a transition of one session: its row, its lease, its audit lines. */
	void apply(Session before, SessionRules.Transition transition, Instant now, Leases.Allocation addresses) {
		Session next = transition.next();
		if (transition.changesRow(before)) {
			jdbc.sql("""
					update sessions set state = ?, ends_at = ?, ended_at = ?, end_reason = ?, key_source = ?,
					       peer_public_key = ?, key_rejected = ?, config_delivered_at = ?,
					       tunnel_ip = case when ? then null else tunnel_ip end,
					       key_destroyed_at = case when ? and sealed_private_key is not null then ? else key_destroyed_at end,
					       sealed_private_key = case when ? then null else sealed_private_key end
					where id = ?""")
				.params(next.state().name(), ts(next.endsAt()), ts(next.endedAt()), next.endReason(), next.keySource(),
						next.peerPublicKey(), next.keyRejected(), ts(next.configDeliveredAt()), transition.needsAddress(),
						transition.destroysSealedKey(), ts(now), transition.destroysSealedKey(), before.id())
				.update();
		}
		if (transition.releasesAddress()) {
			leases.release(before.id(), now);
		}
		if (transition.needsAddress()) {
			log.info("Rental {} is active again ({})", before.rentalId(),
					transition.notes().stream().map(SessionRules.Note::detail).findFirst().orElse(""));
			assignAddress(before.id(), addresses);
		}
		append(before, transition.notes());
	}

	/** @return whether the session got an address (false: the pool is full, it waits) */
	boolean assignAddress(long sessionId, Leases.Allocation addresses) {
		Optional<String> ip = addresses.pick(sessionId);
		addresses.writePicked();
		jdbc.sql("update sessions set tunnel_ip = ?::inet, pool_exhausted = ? where id = ?")
			.params(ip.orElse(null), ip.isEmpty(), sessionId)
			.update();
		return ip.isPresent();
	}

	void append(Session session, List<SessionRules.Note> notes) {
		if (notes.isEmpty()) {
			return;
		}
		audit.appendAll(notes.stream()
			.map(note -> new AuditLog.Entry(session.id(), session.rentalId(), note.kind(), note.detail()))
			.toList());
	}

	/**
	 * Takes the sealed generated key out of an active session and destroys it, in one statement:
	 * the row lock makes concurrent claims wait, and a waiter re-reads the row, finds the key gone
	 * and claims nothing. Exactly one caller ever gets the key.
	 */
	Optional<byte[]> claimSealedKey(long sessionId, Instant now) {
		return jdbc.sql("""
				with claimed as (
				    select id, sealed_private_key from sessions
				    where id = ? and state = 'ACTIVE' and ends_at > ? and sealed_private_key is not null
				    for update
				)
				update sessions s
				set sealed_private_key = null, config_delivered_at = ?, key_destroyed_at = ?
				from claimed c
				where s.id = c.id
				returning c.sealed_private_key""")
			.params(sessionId, ts(now), ts(now), ts(now))
			.query((rs, n) -> rs.getBytes(1))
			.optional();
	}

	/** Records the first delivery of a renter-own-key config; false when it was delivered before. */
	boolean markFirstDelivery(long sessionId, Instant now) {
		return jdbc.sql("update sessions set config_delivered_at = ? where id = ? and config_delivered_at is null")
			.params(ts(now), sessionId)
			.update() == 1;
	}

	/** Locks a session for a key change. */
	Optional<Session> lock(long sessionId) {
		return jdbc.sql("select " + COLUMNS + " from sessions where id = ? for update")
			.param(sessionId)
			.query(SessionRows::session)
			.optional();
	}

	static Session session(ResultSet rs, int rowNum) throws SQLException {
		return new Session(rs.getLong("id"), rs.getBigDecimal("rental_id").toBigIntegerExact(), rs.getString("renter"),
				SessionState.valueOf(rs.getString("state")), instant(rs, "starts_at"), instant(rs, "ends_at"),
				instant(rs, "ended_at"), rs.getString("end_reason"), rs.getString("key_source"),
				rs.getString("peer_public_key"), rs.getBoolean("has_sealed_key"), instant(rs, "config_delivered_at"),
				rs.getString("tunnel_ip"), rs.getBoolean("pool_exhausted"), rs.getString("key_rejected"));
	}

	static Instant instant(ResultSet rs, String column) throws SQLException {
		OffsetDateTime value = rs.getObject(column, OffsetDateTime.class);
		return value == null ? null : value.toInstant();
	}

	static Timestamp ts(Instant instant) {
		return instant == null ? null : Timestamp.from(instant);
	}

}
