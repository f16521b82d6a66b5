package com.gpuflow.agent.fleet;

import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.OptionalLong;

import com.gpuflow.agent.config.AgentSettings;
import com.gpuflow.agent.config.TunnelNetwork;

import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.stereotype.Component;

/**
 * The agents of one database: the hosts registered there, which one reads the chain, and the
 * wake-up of a host's agent when the reader changed its sessions. The owner of the tables
 * {@code hosts} and {@code chain_reader}.
 */
@Component
public class Fleet {

	/** A host of this database, as the chain reader needs it to write its sessions. */
	public record Host(String hostId, Optional<String> serverPublicKey, TunnelNetwork network, Instant registeredAt) {
	}

	/** The agent that reads the chain now, as it last said so. */
	public record Reader(String hostId, long term, Instant since, Instant heartbeatAt, OptionalLong headBlock) {
	}

	private final JdbcClient jdbc;

	private final AgentSettings settings;

	Fleet(JdbcClient jdbc, AgentSettings settings) {
		this.jdbc = jdbc;
		this.settings = settings;
	}

	/** Every host registered for this contract, this agent's own included, oldest first. */
	public List<Host> hosts() {
		return jdbc.sql("""
				select host_id, server_public_key, wg_cidr, registered_at from hosts
				where contract = ? order by registered_at, host_id""")
			.param(settings.rentalContract())
			.query((rs, n) -> new Host(rs.getString(1), Optional.ofNullable(rs.getString(2)),
					TunnelNetwork.parse(rs.getString(3)), rs.getObject(4, OffsetDateTime.class).toInstant()))
			.list();
	}

	/**
	 * Run first in every transaction of the chain reader: it locks the reader row until the commit
	 * and refuses the transaction if another agent's term has begun since {@code term}'s. A reader
	 * that lost its lock connection but not the pool therefore cannot write behind its successor.
	 */
	public void fence(long term, long headBlock) {
		int updated = jdbc.sql("""
				update chain_reader set heartbeat_at = now(), head_block = ?
				where contract = ? and term = ? and host_id = ?""")
			.params(headBlock, settings.rentalContract(), term, settings.hostId())
			.update();
		if (updated != 1) {
			throw new NotTheReaderException(term);
		}
	}

	/**
	 * Wakes the agent of {@code hostId} when the caller's transaction commits (NOTIFY is delivered
	 * on commit, and not at all on rollback): its reconciler converges at once, not at its interval.
	 */
	public void sessionsChanged(String hostId) {
		jdbc.sql("select pg_notify(?, '')").param(channel(hostId)).query().singleRow();
	}

	/** The reader as recorded in the database; empty until some agent was elected. */
	public Optional<Reader> reader() {
		return jdbc.sql("select host_id, term, since, heartbeat_at, head_block from chain_reader where contract = ?")
			.param(settings.rentalContract())
			.query((rs, n) -> new Reader(rs.getString(1), rs.getLong(2), rs.getObject(3, OffsetDateTime.class).toInstant(),
					rs.getObject(4, OffsetDateTime.class).toInstant(),
					rs.getObject(5) == null ? OptionalLong.empty() : OptionalLong.of(rs.getLong(5))))
			.optional();
	}

	/** This agent's checkpoint as the reader left it (any agent may ask; the reader writes it). */
	public OptionalLong checkpointOf(String hostId) {
		return jdbc.sql("select block_number from chain_cursor where host_id = ? and contract = ?")
			.params(hostId, settings.rentalContract())
			.query(Long.class)
			.optional()
			.map(OptionalLong::of)
			.orElse(OptionalLong.empty());
	}

	/**
	 * One channel per host, so an agent hears only its own. A channel name is at most 63 bytes:
	 * the prefix and 48 of the 64 hex digits; two hosts sharing those would only wake each other.
	 */
	static String channel(String hostId) {
		String hex = hostId.startsWith("0x") ? hostId.substring(2) : hostId;
		return "gpuflow_host_" + hex.substring(0, Math.min(48, hex.length())).toLowerCase(Locale.ROOT);
	}

	/** Records this agent's host (first registration keeps its time: the reader reads it from CHAIN_START_BLOCK). */
	void register(Optional<String> serverPublicKey) {
		jdbc.sql("""
				insert into hosts (host_id, contract, registered_at, last_started_at, server_public_key, wg_cidr)
				values (?, ?, now(), now(), ?, ?)
				on conflict (host_id, contract) do update
				  set last_started_at = now(), server_public_key = excluded.server_public_key, wg_cidr = excluded.wg_cidr""")
			.params(settings.hostId(), settings.rentalContract(), serverPublicKey.orElse(null), settings.wgCidr().cidr())
			.update();
	}

}
