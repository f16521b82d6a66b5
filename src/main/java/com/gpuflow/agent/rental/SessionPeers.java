package com.gpuflow.agent.rental;

import java.math.BigDecimal;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;

import com.gpuflow.agent.audit.AuditKind;
import com.gpuflow.agent.audit.AuditLog;
import com.gpuflow.agent.config.AgentSettings;
import com.gpuflow.agent.ipam.Leases;

import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.stereotype.Component;

/**
 * The database side of the reconciler: which peers should exist, and what the interface did with
 * them (added, removed, handshakes and traffic).
 */
@Component
class SessionPeers implements SessionPort {

	private final JdbcClient jdbc;

	private final SessionTransactions transactions;

	private final SessionRows rows;

	private final Leases leases;

	private final AuditLog audit;

	private final String hostId;

	private final SessionConnections connections;

	SessionPeers(JdbcClient jdbc, SessionTransactions transactions, SessionRows rows, Leases leases, AuditLog audit,
			AgentSettings settings, SessionConnections connections) {
		this.connections = connections;
		this.jdbc = jdbc;
		this.transactions = transactions;
		this.rows = rows;
		this.leases = leases;
		this.audit = audit;
		this.hostId = settings.hostId();
	}

	/**
	 * Ends sessions whose endsAt passed by the agent's clock and gives waiting sessions an address.
	 * Most passes find nothing to do and then take no lock and write nothing.
	 */
	@Override
	public void settleDue(Instant now) {
		if (!rows.anythingToSettle(now)) {
			return;
		}
		transactions.write(() -> {
			Leases.Allocation addresses = leases.begin(now);
			for (Session session : rows.due(now)) {
				rows.apply(session, SessionRules.due(session, now), now, addresses);
			}
			for (Session waiting : rows.waitingForAddress(now)) {
				if (!rows.assignAddress(waiting.id(), addresses)) {
					break;
				}
			}
		});
	}

	@Override
	public List<DesiredPeer> desiredPeers(Instant now) {
		return jdbc.sql("""
				select id, peer_public_key, host(tunnel_ip), confirmed_at, ends_at, endpoint from sessions
				where host_id = ? and state = 'ACTIVE' and ends_at > ?
				  and peer_public_key is not null and tunnel_ip is not null""")
			.params(hostId, Timestamp.from(now))
			.query((rs, n) -> new DesiredPeer(rs.getLong(1), rs.getString(2), rs.getString(3),
					rs.getTimestamp(4).toInstant(), rs.getTimestamp(5).toInstant(), rs.getString(6)))
			.list();
	}

	@Override
	public Optional<Instant> nextDeadline(Instant now) {
		return jdbc.sql("select min(ends_at) from sessions where host_id = ? and state = 'ACTIVE' and ends_at > ?")
			.params(hostId, Timestamp.from(now))
			.query(Timestamp.class)
			.optional()
			.map(Timestamp::toInstant);
	}

	@Override
	public void peersAdded(Collection<DesiredPeer> added, Instant at) {
		if (added.isEmpty()) {
			return;
		}
		transactions.write(() -> {
			// One statement for all of them, and one append: under load a statement each held the next
			// pass for a second behind the chain lock the ingester and config deliveries also take.
			List<Long> ids = added.stream().map(DesiredPeer::sessionId).toList();
			Map<Long, BigDecimal> rentalOf = jdbc.sql("""
					update sessions set peer_added_at = coalesce(peer_added_at, ?), peer_removed_at = null
					where id = any(?) returning id, rental_id""")
				.params(Timestamp.from(at), ids.toArray(Long[]::new))
				.query((rs, n) -> Map.entry(rs.getLong(1), rs.getBigDecimal(2)))
				.list()
				.stream()
				.collect(Collectors.toMap(Map.Entry::getKey, Map.Entry::getValue));
			List<AuditLog.Entry> entries = new ArrayList<>(added.size());
			for (DesiredPeer peer : added) {
				BigDecimal rentalId = rentalOf.get(peer.sessionId());
				if (rentalId != null) {
					entries.add(new AuditLog.Entry(peer.sessionId(), rentalId.toBigIntegerExact(), AuditKind.PEER_ADDED,
							peer.tunnelIp() + "/32"));
				}
			}
			audit.appendAll(entries);
			connections.peersLive(ids, at);
		});
	}

	@Override
	public void peersRemoved(Collection<String> publicKeys, Instant at) {
		removed(publicKeys, at, "");
	}

	@Override
	public void peersRemovedWhileUnreachable(Collection<String> publicKeys, Instant at) {
		removed(publicKeys, at, "; removed at " + at + " while the database was unreachable");
	}

	private void removed(Collection<String> publicKeys, Instant at, String note) {
		if (publicKeys.isEmpty()) {
			return;
		}
		transactions.write(() -> {
			// Only sessions whose removal is not recorded yet: a key an older, long-ended session also held
			// must not write into that session's trail again. A key no session holds any more (a rekey's old
			// key, a peer added by hand) has no session to log against.
			record Holder(long id, BigDecimal rentalId, String state) {
			}
			List<Holder> holders = jdbc.sql("""
					select id, rental_id, state from sessions where host_id = ? and peer_public_key = any(?)
					  and peer_removed_at is null""")
				.params(hostId, publicKeys.toArray(String[]::new))
				.query((rs, n) -> new Holder(rs.getLong(1), rs.getBigDecimal(2), rs.getString(3)))
				.list();
			jdbc.sql("update sessions set peer_removed_at = ? where id = any(?)")
				.params(Timestamp.from(at), holders.stream().map(Holder::id).toArray(Long[]::new))
				.update();
			audit.appendAll(holders.stream()
				.map(holder -> new AuditLog.Entry(holder.id(), holder.rentalId().toBigIntegerExact(), AuditKind.PEER_REMOVED,
						"session " + holder.state().toLowerCase() + note))
				.toList());
			connections.peersGone(holders.stream().map(Holder::id).toList(), at);
		});
	}

	/**
	 * Stores handshakes, endpoints and traffic. Interface counters restart at zero when a peer is
	 * re-added or the interface re-created; a value below the last one seen is such a reset, so the
	 * new value is added whole instead of being taken as a loss. The figures go to the active session
	 * of the key, else to an ended one whose peer is still on the interface: the reconciler reads a
	 * peer's final counters just before removing it, after its session ended.
	 */
	@Override
	public void observed(Collection<PeerObservation> observations, Instant at) {
		if (observations.isEmpty()) {
			return;
		}
		transactions.write(() -> {
			// One statement for every observed peer (a pass that adds 60 peers observes them all for the
			// first time): a statement each held the next pass for 0.2 s under load.
			List<PeerObservation> seen = List.copyOf(observations);
			record FirstHandshake(long id, BigDecimal rentalId, String endpoint) {
			}
			List<FirstHandshake> firsts = jdbc.sql("""
					with target as (
					  select o.*, t.id, t.first_handshake_at
					  from unnest(?::text[], ?::bigint[], ?::bigint[], ?::timestamptz[], ?::text[]) with ordinality
					         as o(key, rx, tx, handshake, endpoint, ordinal)
					  cross join lateral (
					    select id, first_handshake_at from sessions
					    where host_id = ? and peer_public_key = o.key
					      and (state = 'ACTIVE' or (peer_added_at is not null and peer_removed_at is null))
					    order by state = 'ACTIVE' desc, id desc limit 1 for update) t),
					updated as (
					  update sessions s set
					    rx_bytes = s.rx_bytes + case when target.rx >= s.rx_counter then target.rx - s.rx_counter else target.rx end,
					    rx_counter = target.rx,
					    tx_bytes = s.tx_bytes + case when target.tx >= s.tx_counter then target.tx - s.tx_counter else target.tx end,
					    tx_counter = target.tx,
					    last_handshake_at = coalesce(target.handshake, s.last_handshake_at),
					    endpoint = coalesce(target.endpoint, s.endpoint),
					    first_handshake_at = coalesce(s.first_handshake_at, target.handshake)
					  from target where s.id = target.id
					  returning target.ordinal, s.id, s.rental_id, target.endpoint,
					            target.first_handshake_at is null and s.first_handshake_at is not null as first)
					select id, rental_id, endpoint from updated where first order by ordinal""")
				.params(seen.stream().map(PeerObservation::publicKey).toArray(String[]::new),
						seen.stream().map(PeerObservation::rxBytes).toArray(Long[]::new),
						seen.stream().map(PeerObservation::txBytes).toArray(Long[]::new),
						seen.stream().map(o -> o.latestHandshake().map(Instant::toString).orElse(null)).toArray(String[]::new),
						seen.stream().map(o -> o.endpoint().orElse(null)).toArray(String[]::new), hostId)
				.query((rs, row) -> new FirstHandshake(rs.getLong(1), rs.getBigDecimal(2), rs.getString(3)))
				.list();
			audit.appendAll(firsts.stream()
				.map(first -> new AuditLog.Entry(first.id(), first.rentalId().toBigIntegerExact(), AuditKind.HANDSHAKE_FIRST,
						first.endpoint() == null ? "" : "from " + first.endpoint()))
				.toList());
			connections.observed(observations.stream().map(PeerObservation::publicKey).toList(), at);
		});
	}

	/** Judges connections by time alone; most passes find nothing to judge and write nothing. */
	@Override
	public void connectionsAged(Instant now) {
		if (!connections.anythingAged(now)) {
			return;
		}
		transactions.write(() -> connections.aged(now));
	}

}
