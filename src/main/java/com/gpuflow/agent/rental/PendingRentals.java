package com.gpuflow.agent.rental;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import com.gpuflow.agent.config.AgentSettings;

import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.stereotype.Component;

/**
 * The {@code pending_rentals} table: rentals of this host seen in blocks not yet confirmed, so a
 * renter asking early hears PENDING instead of 404, and a session later knows when it was first seen.
 */
@Component
class PendingRentals {

	private final JdbcClient jdbc;

	private final String hostId;

	private final String contract;

	@Autowired
	PendingRentals(JdbcClient jdbc, AgentSettings settings) {
		this(jdbc, settings.hostId(), settings.rentalContract());
	}

	/** The unconfirmed rentals of one host of a shared database. */
	PendingRentals(JdbcClient jdbc, String hostId, String contract) {
		this.jdbc = jdbc;
		this.hostId = hostId;
		this.contract = contract;
	}

	Optional<RenterSessions.Pending> find(BigInteger rentalId) {
		return jdbc.sql("select renter, starts_at, ends_at from pending_rentals"
				+ " where host_id = ? and contract = ? and rental_id = ?")
			.params(hostId, contract, new BigDecimal(rentalId))
			.query((rs, n) -> new RenterSessions.Pending(rentalId, rs.getString("renter"),
					SessionRows.instant(rs, "starts_at"), SessionRows.instant(rs, "ends_at")))
			.optional();
	}

	/** Removes the rentals that became sessions; @return when each was first seen, by rental id */
	Map<String, Instant> take(Collection<String> rentalIds) {
		Map<String, Instant> seenAt = new HashMap<>();
		jdbc.sql("""
				delete from pending_rentals where host_id = ? and contract = ? and rental_id = any(?::numeric[])
				returning rental_id::text, first_seen_at""")
			.params(hostId, contract, rentalIds.toArray(String[]::new))
			.query((rs, i) -> seenAt.put(rs.getString(1), rs.getTimestamp(2).toInstant()))
			.list();
		return seenAt;
	}

	/** Rewrites the view of unconfirmed rentals; one that has a live session already is not pending. */
	void replace(List<RentalEvent.Created> pending, Map<BigInteger, Long> blockOf) {
		BigDecimal[] ids = pending.stream().map(p -> new BigDecimal(p.rentalId())).toArray(BigDecimal[]::new);
		jdbc.sql("delete from pending_rentals where host_id = ? and contract = ? and not (rental_id = any(?))")
			.params(hostId, contract, ids)
			.update();
		for (RentalEvent.Created created : pending) {
			BigDecimal rentalId = new BigDecimal(created.rentalId());
			jdbc.sql("""
					insert into pending_rentals (host_id, contract, rental_id, renter, starts_at, ends_at, block_number)
					select ?, ?, ?, ?, ?, ?, ?
					where not exists (select 1 from sessions where host_id = ? and contract = ? and rental_id = ? and %s)
					on conflict (host_id, contract, rental_id) do update
					  set renter = excluded.renter, starts_at = excluded.starts_at, ends_at = excluded.ends_at,
					      block_number = excluded.block_number""".formatted(SessionRows.LIVE))
				.params(hostId, contract, rentalId, created.renter(), Timestamp.from(created.startsAt()),
						Timestamp.from(created.endsAt()), blockOf.get(created.rentalId()), hostId, contract, rentalId)
				.update();
		}
	}

	/** After a reorganisation nothing unconfirmed is known any more; the next read refills it. */
	void clear() {
		jdbc.sql("delete from pending_rentals where host_id = ? and contract = ?").params(hostId, contract).update();
	}

}
