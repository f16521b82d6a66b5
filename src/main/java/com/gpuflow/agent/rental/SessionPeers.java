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
class SessionPeers {

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

	public record Desired(long sessionId, String publicKey, String tunnelIp, Instant confirmedAt) {
	}

	public List<Desired> desiredPeers(Instant now) {
		return transactions.execute(status -> {
			lifecycle.expireDue(now);
			lifecycle.assignWaitingAddresses(now);
			return jdbc.sql("""
					select id, peer_public_key, host(tunnel_ip), confirmed_at from sessions
					where host_id = ? and state = 'ACTIVE' and ends_at > ?
					  and peer_public_key is not null and tunnel_ip is not null""")
				.params(hostId, Timestamp.from(now))
				.query((rs, n) -> new Desired(rs.getLong(1), rs.getString(2), rs.getString(3),
						rs.getTimestamp(4).toInstant()))
				.list();
		});
	}

	public Optional<Instant> nextDeadline(Instant now) {
		return jdbc.sql("select min(ends_at) from sessions where host_id = ? and state = 'ACTIVE' and ends_at > ?")
			.params(hostId, Timestamp.from(now))
			.query(Timestamp.class)
			.optional()
			.map(Timestamp::toInstant);
	}

	public void peersAdded(Collection<Desired> added, Instant at) {
		if (added.isEmpty()) {
			return;
		}
		transactions.executeWithoutResult(status -> {
			for (Desired peer : added) {
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

	public void peersRemoved(Collection<String> publicKeys, Instant at) {
		if (publicKeys.isEmpty()) {
			return;
		}
		transactions.executeWithoutResult(status -> {
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
						"session " + holder.state().toLowerCase());
			}
		});
	}

}
