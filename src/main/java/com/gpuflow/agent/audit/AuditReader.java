package com.gpuflow.agent.audit;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import com.gpuflow.agent.audit.AuditRecords.Event;
import com.gpuflow.agent.audit.AuditRecords.IpHistory;
import com.gpuflow.agent.audit.AuditRecords.Lease;
import com.gpuflow.agent.audit.AuditRecords.PeerItem;
import com.gpuflow.agent.audit.AuditRecords.SessionEvents;
import com.gpuflow.agent.audit.AuditRecords.SessionItem;
import com.gpuflow.agent.audit.AuditRecords.SessionPage;
import com.gpuflow.agent.config.AgentSettings;

import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.stereotype.Component;

/**
 * Reads the audit surface for this host. It goes through the same views the
 * {@code gpuflow_auditor} role reads, so the routes and an auditor's SQL cannot disagree. Every
 * value reaches SQL as a bind parameter; only fixed fragments are concatenated.
 */
@Component
class AuditReader {

	private final JdbcClient jdbc;

	private final String hostId;

	AuditReader(JdbcClient jdbc, AgentSettings settings) {
		this.jdbc = jdbc;
		this.hostId = settings.hostId();
	}

	/** Newest first by (created_at, id); one row more than asked tells whether a next page exists. */
	SessionPage sessions(SessionQuery query) {
		StringBuilder sql = new StringBuilder("""
				select rental_id, renter, tunnel_ip, peer_public_key, state, created_at, confirmed_at, peer_added_at,
				       config_delivered_at, first_handshake_at, ended_at, end_reason, rx_bytes, tx_bytes, session_id
				from audit_sessions where host_id = :host""");
		Map<String, Object> params = new HashMap<>();
		params.put("host", hostId);
		query.renter().ifPresent(renter -> {
			sql.append(" and renter = :renter");
			params.put("renter", renter);
		});
		query.state().ifPresent(state -> {
			sql.append(" and state = :state");
			params.put("state", state);
		});
		query.from().ifPresent(from -> {
			sql.append(" and (ended_at is null or ended_at > :from)");
			params.put("from", AuditTime.utc(from));
		});
		query.to().ifPresent(to -> {
			sql.append(" and created_at < :to");
			params.put("to", AuditTime.utc(to));
		});
		query.after().ifPresent(cursor -> {
			sql.append(" and (created_at, session_id) < (:afterCreated, :afterId)");
			params.put("afterCreated", AuditTime.utc(cursor.createdAt()));
			params.put("afterId", cursor.sessionId());
		});
		sql.append(" order by created_at desc, session_id desc limit :limit");
		params.put("limit", query.limit() + 1);
		record Row(SessionItem item, PageCursor position) {
		}
		List<Row> rows = jdbc.sql(sql.toString())
			.params(params)
			.query((rs, n) -> new Row(sessionItem(rs), new PageCursor(instant(rs, "created_at"), rs.getLong("session_id"))))
			.list();
		boolean more = rows.size() > query.limit();
		List<Row> page = more ? rows.subList(0, query.limit()) : rows;
		String next = more ? page.get(page.size() - 1).position().encode() : null;
		return new SessionPage(page.stream().map(Row::item).toList(), next);
	}

	/** Every lease of the address on this host, oldest first; {@code to} is null while it is held. */
	IpHistory ipHistory(String ip) {
		List<Lease> leases = jdbc.sql("""
				select rental_id, renter, held_from, held_to from audit_ip_history
				where host_id = ? and ip = host(cast(? as inet)) order by held_from, session_id""")
			.params(hostId, ip)
			.query((rs, n) -> new Lease(AuditRecords.rentalId(rentalId(rs)), rs.getString("renter"),
					AuditTime.format(instant(rs, "held_from")), AuditTime.format(instant(rs, "held_to"))))
			.list();
		return new IpHistory(ip, leases);
	}

	/** The events of every session of this rental id on this host, in chain order; empty if none. */
	Optional<SessionEvents> events(BigInteger rentalId) {
		List<Event> events = jdbc.sql("""
				select id, session_id, at, kind, detail from audit_events
				where host_id = ? and rental_id = ? order by id""")
			.params(hostId, new BigDecimal(rentalId))
			.query((rs, n) -> new Event(rs.getLong("id"), (Long) rs.getObject("session_id", Long.class),
					AuditTime.format(instant(rs, "at")), rs.getString("kind"), rs.getString("detail")))
			.list();
		if (events.isEmpty()) {
			return Optional.empty();
		}
		return Optional.of(new SessionEvents(AuditRecords.rentalId(rentalId), events));
	}

	/** Joins the live peers to the sessions holding their keys; a peer nobody holds keeps null fields. */
	List<PeerItem> peers(List<LivePeers.Peer> live) {
		if (live.isEmpty()) {
			return List.of();
		}
		record Holder(BigInteger rentalId, String tunnelIp, String renter, String state, Instant endsAt) {
		}
		Map<String, Holder> holders = new HashMap<>();
		// A key is held by one live session at most; among older ones (a reorged-out session that
		// reappeared) the ACTIVE one, else the newest, speaks for the peer.
		jdbc.sql("""
				select peer_public_key, rental_id, tunnel_ip, renter, state, ends_at from audit_sessions
				where host_id = ? and peer_public_key = any(?)
				order by (state = 'ACTIVE'), session_id""")
			.params(hostId, live.stream().map(LivePeers.Peer::publicKey).distinct().toArray(String[]::new))
			.query((rs, n) -> Map.entry(rs.getString("peer_public_key"), new Holder(rentalId(rs), rs.getString("tunnel_ip"),
					rs.getString("renter"), rs.getString("state"), instant(rs, "ends_at"))))
			.list()
			.forEach(entry -> holders.put(entry.getKey(), entry.getValue()));
		List<PeerItem> items = new ArrayList<>(live.size());
		for (LivePeers.Peer peer : live) {
			Holder holder = holders.get(peer.publicKey());
			String tunnelIp = holder != null && holder.tunnelIp() != null ? holder.tunnelIp()
					: peer.allowedIps().stream().filter(ip -> ip.endsWith("/32")).map(ip -> ip.substring(0, ip.length() - 3))
						.findFirst()
						.orElse(null);
			items.add(new PeerItem(holder == null ? null : AuditRecords.rentalId(holder.rentalId()), tunnelIp,
					peer.publicKey(), peer.endpoint().orElse(null), List.copyOf(peer.allowedIps()),
					peer.latestHandshake().map(AuditTime::format).orElse(null), peer.rxBytes(), peer.txBytes(),
					holder == null ? null : holder.renter(), holder == null ? null : holder.state(),
					holder == null ? null : AuditTime.format(holder.endsAt())));
		}
		return items;
	}

	private static SessionItem sessionItem(ResultSet rs) throws SQLException {
		return new SessionItem(AuditRecords.rentalId(rentalId(rs)), rs.getString("renter"), rs.getString("tunnel_ip"),
				rs.getString("peer_public_key"), rs.getString("state"), AuditTime.format(instant(rs, "created_at")),
				AuditTime.format(instant(rs, "confirmed_at")), AuditTime.format(instant(rs, "peer_added_at")),
				AuditTime.format(instant(rs, "config_delivered_at")), AuditTime.format(instant(rs, "first_handshake_at")),
				AuditTime.format(instant(rs, "ended_at")), rs.getString("end_reason"), rs.getLong("rx_bytes"),
				rs.getLong("tx_bytes"));
	}

	private static BigInteger rentalId(ResultSet rs) throws SQLException {
		BigDecimal value = rs.getBigDecimal("rental_id");
		return value == null ? null : value.toBigIntegerExact();
	}

	private static Instant instant(ResultSet rs, String column) throws SQLException {
		OffsetDateTime value = rs.getObject(column, OffsetDateTime.class);
		return value == null ? null : value.toInstant();
	}

}
