package com.gpuflow.agent.rental;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.List;
import java.util.Optional;

import com.gpuflow.agent.config.AgentSettings;
import com.gpuflow.agent.ipam.Leases;

import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.stereotype.Component;

/**
 * Who holds which tunnel address, for services on the host (who-is, forward-auth). Read only.
 */
@Component
public class SessionDirectory {

	/**
	 * A session as a host service sees it. {@code state} is the stored one; a caller judges expiry by
	 * its own clock against {@code endsAt}, as the renter routes do.
	 */
	public record Holder(long sessionId, BigInteger rentalId, String renter, SessionState state, Instant startsAt,
			Instant endsAt, String peerPublicKey, String tunnelIp) {

		/** ACTIVE and before its end at {@code now}: the holder has access. */
		public boolean activeAt(Instant now) {
			return state == SessionState.ACTIVE && endsAt.isAfter(now);
		}

	}

	private static final String COLUMNS = "id, rental_id, renter, state, starts_at, ends_at, peer_public_key,"
			+ " host(tunnel_ip) as tunnel_ip";

	private final JdbcClient jdbc;

	private final Leases leases;

	private final String hostId;

	SessionDirectory(JdbcClient jdbc, Leases leases, AgentSettings settings) {
		this.jdbc = jdbc;
		this.leases = leases;
		this.hostId = settings.hostId();
	}

	/** Every ACTIVE session of this host that has a tunnel address (one statement). */
	public List<Holder> activeHolders() {
		return jdbc.sql("select " + COLUMNS + " from sessions where host_id = ? and state = 'ACTIVE' and tunnel_ip is not null")
			.param(hostId)
			.query(SessionDirectory::holder)
			.list();
	}

	/** The session whose lease covered {@code ip} at {@code at}, from the lease history. */
	public Optional<Holder> holderAt(String ip, Instant at) {
		return leases.holderAt(ip, at)
			.flatMap(sessionId -> jdbc.sql("select " + COLUMNS + " from sessions where id = ?")
				.param(sessionId)
				.query(SessionDirectory::holder)
				.optional())
			// The lease says who held the address; the row is reported with that address even after
			// the session released it.
			.map(h -> new Holder(h.sessionId(), h.rentalId(), h.renter(), h.state(), h.startsAt(), h.endsAt(),
					h.peerPublicKey(), ip));
	}

	private static Holder holder(ResultSet rs, int row) throws SQLException {
		return new Holder(rs.getLong("id"), rs.getObject("rental_id", BigDecimal.class).toBigIntegerExact(),
				rs.getString("renter"), SessionState.valueOf(rs.getString("state")), instant(rs, "starts_at"),
				instant(rs, "ends_at"), rs.getString("peer_public_key"), rs.getString("tunnel_ip"));
	}

	private static Instant instant(ResultSet rs, String column) throws SQLException {
		Timestamp value = rs.getTimestamp(column);
		return value == null ? null : value.toInstant();
	}

}
