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

import com.gpuflow.agent.audit.AuditRecords.Connections;
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
				       config_delivered_at, first_handshake_at, ended_at, end_reason, rx_bytes, tx_bytes, session_id,
				       connection_state, setup_seconds, connected_seconds, drops
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

	/**
	 * The peer key of the rental's session on this host (the active one if any, else the newest),
	 * as an optional inside an optional: outer empty when the rental is unknown here, inner empty when
	 * its session never had a key.
	 */
	Optional<Optional<String>> peerKey(BigInteger rentalId) {
		return jdbc.sql("""
				select peer_public_key from audit_sessions where host_id = ? and rental_id = ?
				order by (state = 'ACTIVE') desc, session_id desc limit 1""")
			.params(hostId, new BigDecimal(rentalId))
			.query((rs, n) -> Optional.ofNullable(rs.getString(1)))
			.optional();
	}

	/**
	 * Connection quality of the last {@code hours} hours: setups started in the window (their times,
	 * and how many were established within 60 s or not), drops per hour, and the states now.
	 */
	Connections connections(int hours) {
		record Window(Instant from, Instant to) {
		}
		Window window = jdbc.sql("select now() - make_interval(hours => ?), now()")
			.param(hours)
			.query((rs, n) -> new Window(rs.getObject(1, OffsetDateTime.class).toInstant(),
					rs.getObject(2, OffsetDateTime.class).toInstant()))
			.single();
		List<Double> setupSeconds = new ArrayList<>();
		long[] outcomes = new long[2];
		jdbc.sql("""
				select setup_seconds, setup_outcome from audit_sessions
				where host_id = ? and coalesce(config_delivered_at, peer_added_at) >= ?
				  and (setup_seconds is not null or setup_outcome is not null)
				order by session_id""")
			.params(hostId, AuditTime.utc(window.from()))
			.query((rs, n) -> {
				double setup = rs.getDouble(1);
				if (!rs.wasNull()) {
					setupSeconds.add(Math.round(setup * 1000) / 1000.0);
				}
				String outcome = rs.getString(2);
				if ("established".equals(outcome)) {
					outcomes[0]++;
				}
				else if ("not_established".equals(outcome)) {
					outcomes[1]++;
				}
				return null;
			})
			.list();
		long[] byHour = new long[hours];
		jdbc.sql("""
				select floor(extract(epoch from (at - ?)) / 3600)::int, count(*) from audit_events
				where host_id = ? and kind = 'connection_lost' and at >= ? group by 1""")
			.params(AuditTime.utc(window.from()), hostId, AuditTime.utc(window.from()))
			.query((rs, n) -> {
				int hour = rs.getInt(1);
				if (hour >= 0 && hour < hours) {
					byHour[hour] += rs.getLong(2);
				}
				return null;
			})
			.list();
		List<AuditRecords.HourlyDrops> dropsByHour = new ArrayList<>(hours);
		long drops = 0;
		for (int hour = 0; hour < hours; hour++) {
			dropsByHour.add(new AuditRecords.HourlyDrops(AuditTime.format(window.from().plusSeconds(3600L * hour)),
					byHour[hour]));
			drops += byHour[hour];
		}
		Map<String, Long> now = new HashMap<>();
		jdbc.sql("""
				select connection_state, count(*) from audit_sessions
				where host_id = ? and state = 'ACTIVE' and connection_state is not null group by 1""")
			.param(hostId)
			.query((rs, n) -> now.put(rs.getString(1), rs.getLong(2)))
			.list();
		long judged = outcomes[0] + outcomes[1];
		return new Connections(AuditTime.format(window.from()), AuditTime.format(window.to()), setupSeconds, outcomes[0],
				outcomes[1], drops, judged == 0 ? null : (double) outcomes[0] / judged,
				outcomes[0] == 0 ? null : (double) drops / outcomes[0], dropsByHour, now.getOrDefault("connected", 0L),
				now.getOrDefault("waiting", 0L), now.getOrDefault("lost", 0L), AuditRecords.Targets.SEED);
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
				rs.getLong("tx_bytes"), rs.getString("connection_state"), seconds(rs, "setup_seconds"),
				Math.round(rs.getDouble("connected_seconds") * 1000) / 1000.0, rs.getInt("drops"));
	}

	/** Seconds to the millisecond, or null. */
	private static Double seconds(ResultSet rs, String column) throws SQLException {
		double value = rs.getDouble(column);
		return rs.wasNull() ? null : Math.round(value * 1000) / 1000.0;
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
