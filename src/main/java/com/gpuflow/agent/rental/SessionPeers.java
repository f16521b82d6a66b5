package com.gpuflow.agent.rental;

import java.sql.Timestamp;
import java.time.Instant;
import java.util.Collection;
import java.util.List;
import java.util.Optional;

import com.gpuflow.agent.audit.AuditKind;
import com.gpuflow.agent.audit.AuditLog;
import com.gpuflow.agent.config.AgentSettings;

import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.stereotype.Component;
import org.springframework.transaction.support.TransactionTemplate;

/**
 * The database side of the reconciler: which peers should exist, and what happened to them.
 */
@Component
class SessionPeers implements SessionPort {

	private final JdbcClient jdbc;

	private final TransactionTemplate transactions;

	private final SessionLifecycle lifecycle;

	private final AuditLog audit;

	private final String hostId;

	SessionPeers(JdbcClient jdbc, TransactionTemplate transactions, SessionLifecycle lifecycle, AuditLog audit,
			AgentSettings settings) {
		this.jdbc = jdbc;
		this.transactions = transactions;
		this.lifecycle = lifecycle;
		this.audit = audit;
		this.hostId = settings.hostId();
	}

	@Override
	public List<DesiredPeer> desiredPeers(Instant now) {
		return transactions.execute(status -> {
			audit.lockChain();
			lifecycle.expireDue(now);
			lifecycle.assignWaitingAddresses(now);
			return jdbc.sql("""
					select id, peer_public_key, host(tunnel_ip), confirmed_at, ends_at from sessions
					where host_id = ? and state = 'ACTIVE' and ends_at > ?
					  and peer_public_key is not null and tunnel_ip is not null""")
				.params(hostId, Timestamp.from(now))
				.query((rs, n) -> new DesiredPeer(rs.getLong(1), rs.getString(2), rs.getString(3),
						rs.getTimestamp(4).toInstant(), rs.getTimestamp(5).toInstant()))
				.list();
		});
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
		transactions.executeWithoutResult(status -> {
			audit.lockChain();
			for (DesiredPeer peer : added) {
				jdbc.sql("""
						update sessions set peer_added_at = coalesce(peer_added_at, ?), peer_removed_at = null
						where id = ? returning rental_id""")
					.params(Timestamp.from(at), peer.sessionId())
					.query(java.math.BigDecimal.class)
					.optional()
					.ifPresent(rentalId -> audit.append(peer.sessionId(), rentalId.toBigIntegerExact(), AuditKind.PEER_ADDED,
							peer.tunnelIp() + "/32"));
			}
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
		transactions.executeWithoutResult(status -> {
			audit.lockChain();
			// A key that no session holds any more (a rekey's old key, a peer added by hand) has no session to log against.
			record Holder(long id, java.math.BigDecimal rentalId, String state) {
			}
			List<Holder> holders = jdbc.sql("""
					select id, rental_id, state from sessions where host_id = ? and peer_public_key = any(?)""")
				.params(hostId, publicKeys.toArray(String[]::new))
				.query((rs, n) -> new Holder(rs.getLong(1), rs.getBigDecimal(2), rs.getString(3)))
				.list();
			for (Holder holder : holders) {
				jdbc.sql("update sessions set peer_removed_at = ? where id = ?").params(Timestamp.from(at), holder.id()).update();
				audit.append(holder.id(), holder.rentalId().toBigIntegerExact(), AuditKind.PEER_REMOVED,
						"session " + holder.state().toLowerCase() + note);
			}
		});
	}

	/**
	 * Stores handshakes, endpoints and traffic. Interface counters restart at zero when a peer is
	 * re-added or the interface re-created; a value below the last one seen is such a reset, so the
	 * new value is added whole instead of being taken as a loss.
	 */
	@Override
	public void observed(Collection<PeerObservation> observations, Instant at) {
		if (observations.isEmpty()) {
			return;
		}
		transactions.executeWithoutResult(status -> {
			audit.lockChain();
			for (PeerObservation seen : observations) {
				Timestamp handshake = seen.latestHandshake().map(Timestamp::from).orElse(null);
				record FirstHandshake(long id, java.math.BigDecimal rentalId) {
				}
				List<FirstHandshake> firsts = jdbc.sql("""
						with before as (
						  select id, first_handshake_at from sessions
						  where host_id = ? and peer_public_key = ? and state = 'ACTIVE' for update)
						update sessions s set
						  rx_bytes = rx_bytes + case when ? >= rx_counter then ? - rx_counter else ? end, rx_counter = ?,
						  tx_bytes = tx_bytes + case when ? >= tx_counter then ? - tx_counter else ? end, tx_counter = ?,
						  last_handshake_at = coalesce(?, s.last_handshake_at),
						  endpoint = coalesce(?, s.endpoint),
						  first_handshake_at = coalesce(s.first_handshake_at, ?)
						from before where s.id = before.id
						returning s.id, s.rental_id, before.first_handshake_at is null and s.first_handshake_at is not null""")
					.params(hostId, seen.publicKey(), seen.rxBytes(), seen.rxBytes(), seen.rxBytes(), seen.rxBytes(),
							seen.txBytes(), seen.txBytes(), seen.txBytes(), seen.txBytes(), handshake,
							seen.endpoint().orElse(null), handshake)
					.query((rs, n) -> rs.getBoolean(3) ? new FirstHandshake(rs.getLong(1), rs.getBigDecimal(2)) : null)
					.list()
					.stream()
					.filter(java.util.Objects::nonNull)
					.toList();
				for (FirstHandshake first : firsts) {
					audit.append(first.id(), first.rentalId().toBigIntegerExact(), AuditKind.HANDSHAKE_FIRST,
							seen.endpoint().map(e -> "from " + e).orElse(""));
				}
			}
		});
	}

}
