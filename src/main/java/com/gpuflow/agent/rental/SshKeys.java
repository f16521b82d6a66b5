package com.gpuflow.agent.rental;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.List;
import java.util.stream.Collectors;

import com.gpuflow.agent.audit.AuditKind;
import com.gpuflow.agent.config.AgentSettings;

import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.stereotype.Component;

/**
 * The SSH public keys of sessions (table {@code ssh_keys}, owned here). Keys live as long as their
 * session: {@link #activeKeys} answers only keys of ACTIVE sessions that have a peer, so the moment a
 * session ends or expires its keys stop being answered, whatever rows remain.
 */
@Component
public class SshKeys {

	/** One authorized key: the key, the tunnel address it may log in from, and its rental. */
	public record Authorized(BigInteger rentalId, String tunnelIp, SshPublicKey key) {
	}

	private final JdbcClient jdbc;

	private final SessionTransactions transactions;

	private final SessionRows rows;

	private final String hostId;

	SshKeys(JdbcClient jdbc, SessionTransactions transactions, SessionRows rows, AgentSettings settings) {
		this.jdbc = jdbc;
		this.transactions = transactions;
		this.rows = rows;
		this.hostId = settings.hostId();
	}

	/**
	 * Replaces the session's keys only while the session is ACTIVE and before its end (checked under
	 * the session's row lock), and records {@code ssh_keys_set} with the keys' fingerprints.
	 * @return false when the session is no longer usable: nothing was stored
	 */
	public boolean replace(Session session, List<SshPublicKey> keys, Instant now) {
		if (keys.isEmpty() || keys.size() > SshPublicKey.MAX_KEYS) {
			throw new IllegalArgumentException("a session holds 1 to " + SshPublicKey.MAX_KEYS + " keys");
		}
		return transactions.write(() -> {
			if (!store(session.id(), keys, now)) {
				return false;
			}
			rows.append(session, List.of(new SessionRules.Note(AuditKind.SSH_KEYS_SET, keys.size()
					+ (keys.size() == 1 ? " key: " : " keys: ")
					+ keys.stream().map(SshPublicKey::toString).collect(Collectors.joining(", ")))));
			return true;
		});
	}

	private boolean store(long sessionId, List<SshPublicKey> keys, Instant now) {
		boolean usable = jdbc.sql("select 1 from sessions where id = ? and host_id = ? and state = 'ACTIVE' and ends_at > ? for share")
			.params(sessionId, hostId, Timestamp.from(now))
			.query(Integer.class)
			.optional()
			.isPresent();
		if (!usable) {
			return false;
		}
		jdbc.sql("delete from ssh_keys where session_id = ?").param(sessionId).update();
		int n = keys.size();
		Integer[] positions = new Integer[n];
		String[] types = new String[n];
		byte[][] blobs = new byte[n][];
		String[] fingerprints = new String[n];
		for (int i = 0; i < n; i++) {
			positions[i] = i + 1;
			types[i] = keys.get(i).type();
			blobs[i] = keys.get(i).blob();
			fingerprints[i] = keys.get(i).fingerprint();
		}
		jdbc.sql("""
				insert into ssh_keys (session_id, position, key_type, key_blob, fingerprint, set_at)
				select ?, position, key_type, key_blob, fingerprint, ?
				from unnest(?::int[], ?::text[], ?::bytea[], ?::text[]) as t(position, key_type, key_blob, fingerprint)""")
			.params(sessionId, Timestamp.from(now), positions, types, blobs, fingerprints)
			.update();
		return true;
	}

	/**
	 * Keys of every session of this host that is ACTIVE, before its end by {@code now}, and has a
	 * peer (a key and a tunnel address), ordered by rental and position.
	 */
	public List<Authorized> activeKeys(Instant now) {
		return jdbc.sql("""
				select s.rental_id, host(s.tunnel_ip), k.key_type, k.key_blob
				from ssh_keys k join sessions s on s.id = k.session_id
				where s.host_id = ? and s.state = 'ACTIVE' and s.ends_at > ?
				  and s.tunnel_ip is not null and s.peer_public_key is not null
				order by s.rental_id, k.position""")
			.params(hostId, Timestamp.from(now))
			.query((rs, i) -> new Authorized(rs.getObject(1, BigDecimal.class).toBigIntegerExact(), rs.getString(2),
					new SshPublicKey(rs.getString(3), rs.getBytes(4))))
			.list();
	}

}
