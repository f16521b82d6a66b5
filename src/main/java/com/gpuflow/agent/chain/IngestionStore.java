package com.gpuflow.agent.chain;

import java.math.BigDecimal;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.gpuflow.agent.config.AgentSettings;
import com.gpuflow.agent.ipam.Leases;
import com.gpuflow.agent.rental.SessionLifecycle;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.stereotype.Component;
import org.springframework.transaction.support.TransactionTemplate;

/**
 * Persists what ingestion read, one transaction per block range: the events, what they did to
 * sessions, the hashes of the blocks, and the checkpoint. The checkpoint therefore never passes an
 * unpersisted event, and a crash replays at most the range that did not commit.
 */
@Component
class IngestionStore {

	/** How many processed blocks below the checkpoint keep their hashes for finding a common ancestor. */
	static final int REORG_WINDOW = 256;

	private static final Logger log = LoggerFactory.getLogger(IngestionStore.class);

	record Checkpoint(long number, String hash) {
	}

	/** What one committed range did. */
	record Outcome(int stored, int undecodable, boolean sessionsChanged) {
	}

	private final JdbcClient jdbc;

	private final TransactionTemplate transactions;

	private final SessionLifecycle sessions;

	private final Leases leases;

	private final ObjectMapper json;

	private final String hostId;

	private final String contract;

	IngestionStore(JdbcClient jdbc, TransactionTemplate transactions, SessionLifecycle sessions, Leases leases,
			ObjectMapper json, AgentSettings settings) {
		this.jdbc = jdbc;
		this.transactions = transactions;
		this.sessions = sessions;
		this.leases = leases;
		this.json = json;
		this.hostId = settings.hostId();
		this.contract = settings.rentalContract();
	}

	Optional<Checkpoint> checkpoint() {
		return jdbc.sql("select block_number, block_hash from chain_cursor where host_id = ? and contract = ?")
			.params(hostId, contract)
			.query((rs, n) -> new Checkpoint(rs.getLong(1), rs.getString(2)))
			.optional();
	}

	/** Stored block hashes at or below {@code atMost}, newest first. */
	List<BlockRef> storedBlocks(long atMost) {
		return jdbc.sql("""
				select block_number, block_hash from chain_blocks
				where host_id = ? and contract = ? and block_number <= ? order by block_number desc""")
			.params(hostId, contract, atMost)
			.query((rs, n) -> new BlockRef(rs.getLong(1), rs.getString(2), null))
			.list();
	}

	Outcome persist(List<ChainLog> logs, BlockRef upTo, Instant now) {
		return transactions.execute(status -> {
			// Before any session row: one lock order for every writer of sessions and the audit log.
			sessions.lockAuditChain();
			List<ChainLog> ordered = new ArrayList<>(logs);
			ordered.sort(Comparator.comparingLong(ChainLog::blockNumber).thenComparingInt(ChainLog::logIndex));
			Map<Long, String> blocks = new LinkedHashMap<>();
			Leases.Allocation addresses = null;
			int stored = 0;
			int undecodable = 0;
			boolean changed = false;
			for (ChainLog chainLog : ordered) {
				RentalEvent event;
				try {
					event = RentalMarketLogs.decode(chainLog);
				}
				catch (RentalMarketLogs.UndecodableLogException e) {
					// Recorded and skipped: one bad log must not stop the host (no crash loop).
					if (insert(chainLog, "Undecodable", null, undecodablePayload(chainLog, e.getMessage())) != null) {
						log.warn("Skipped an undecodable log at block {} tx {} index {}: {}", chainLog.blockNumber(),
								chainLog.txHash(), chainLog.logIndex(), e.getMessage());
						blocks.put(chainLog.blockNumber(), chainLog.blockHash());
						undecodable++;
					}
					continue;
				}
				if (event == null || !concernsThisHost(event)) {
					continue;
				}
				Long eventId = insert(chainLog, kind(event), new BigDecimal(event.rentalId()), payload(event));
				if (eventId == null) {
					continue; // already persisted: inserts are idempotent by tx hash + log index
				}
				blocks.put(chainLog.blockNumber(), chainLog.blockHash());
				stored++;
				if (addresses == null) {
					addresses = leases.begin(now);
				}
				String origin = "block " + chainLog.blockNumber() + " tx " + chainLog.txHash() + " log " + chainLog.logIndex();
				switch (event) {
					case RentalEvent.Created created -> {
						sessions.created(eventId, created, origin, now, addresses);
						changed = true;
					}
					case RentalEvent.Extended extended -> changed |= sessions.extended(extended, now, addresses);
					case RentalEvent.Ended ended -> changed |= sessions.ended(ended, now);
				}
			}
			if (addresses != null) {
				addresses.finish();
			}
			blocks.put(upTo.number(), upTo.hash());
			for (Map.Entry<Long, String> block : blocks.entrySet()) {
				jdbc.sql("""
						insert into chain_blocks (host_id, contract, block_number, block_hash) values (?, ?, ?, ?)
						on conflict (host_id, contract, block_number) do update set block_hash = excluded.block_hash""")
					.params(hostId, contract, block.getKey(), block.getValue())
					.update();
			}
			jdbc.sql("delete from chain_blocks where host_id = ? and contract = ? and block_number < ?")
				.params(hostId, contract, upTo.number() - REORG_WINDOW)
				.update();
			moveCheckpoint(upTo);
			return new Outcome(stored, undecodable, changed);
		});
	}

	/**
	 * Undoes what blocks above the common ancestor did: their events are marked orphaned (kept for
	 * the audit), sessions they created are REORGED_OUT, extensions and ends they carried are
	 * recomputed from the events still live, and reading resumes after the ancestor.
	 */
	int rollBackTo(long ancestorNumber, Optional<BlockRef> ancestor, Instant now) {
		return transactions.execute(status -> {
			sessions.lockAuditChain();
			record Orphan(long id, String kind, BigDecimal rentalId, long block, int index) {
			}
			List<Orphan> orphans = new ArrayList<>(jdbc.sql("""
					update chain_events set orphaned_at = ?
					where host_id = ? and contract = ? and block_number > ? and orphaned_at is null
					returning id, kind, rental_id, block_number, log_index""")
				.params(Timestamp.from(now), hostId, contract, ancestorNumber)
				.query((rs, n) -> new Orphan(rs.getLong(1), rs.getString(2), rs.getBigDecimal(3), rs.getLong(4), rs.getInt(5)))
				.list());
			// Undo newest first, as the chain would have.
			orphans.sort(Comparator.comparingLong(Orphan::block).thenComparingInt(Orphan::index).reversed());
			Leases.Allocation addresses = leases.begin(now);
			for (Orphan orphan : orphans) {
				switch (orphan.kind()) {
					case "RentalCreated" -> sessions.createdOrphaned(orphan.id(), now);
					case "RentalExtended", "RentalEnded" ->
						sessions.laterEventOrphaned(orphan.rentalId().toBigIntegerExact(), orphan.kind(), now, addresses);
					default -> {
					}
				}
			}
			addresses.finish();
			jdbc.sql("delete from chain_blocks where host_id = ? and contract = ? and block_number > ?")
				.params(hostId, contract, ancestorNumber)
				.update();
			jdbc.sql("delete from pending_rentals where host_id = ? and contract = ?").params(hostId, contract).update();
			if (ancestor.isPresent()) {
				moveCheckpoint(ancestor.get());
			}
			else {
				// Nothing we read survives: start again from CHAIN_START_BLOCK.
				jdbc.sql("delete from chain_cursor where host_id = ? and contract = ?").params(hostId, contract).update();
			}
			return orphans.size();
		});
	}

	/** Rewrites the view of rentals seen in blocks not yet confirmed. */
	void replacePending(List<RentalEvent.Created> pending, Map<java.math.BigInteger, Long> blockOf) {
		transactions.executeWithoutResult(status -> {
			List<BigDecimal> ids = pending.stream().map(p -> new BigDecimal(p.rentalId())).toList();
			jdbc.sql("delete from pending_rentals where host_id = ? and contract = ? and not (rental_id = any(?))")
				.params(hostId, contract, ids.toArray(BigDecimal[]::new))
				.update();
			for (RentalEvent.Created created : pending) {
				jdbc.sql("""
						insert into pending_rentals (host_id, contract, rental_id, renter, starts_at, ends_at, block_number)
						select ?, ?, ?, ?, ?, ?, ?
						where not exists (select 1 from sessions where host_id = ? and contract = ? and rental_id = ?
						                  and state <> 'REORGED_OUT')
						on conflict (host_id, contract, rental_id) do update
						  set renter = excluded.renter, starts_at = excluded.starts_at, ends_at = excluded.ends_at,
						      block_number = excluded.block_number""")
					.params(hostId, contract, new BigDecimal(created.rentalId()), created.renter(),
							Timestamp.from(created.startsAt()), Timestamp.from(created.endsAt()),
							blockOf.get(created.rentalId()), hostId, contract, new BigDecimal(created.rentalId()))
					.update();
			}
		});
	}

	boolean concernsThisHost(RentalEvent event) {
		return switch (event) {
			case RentalEvent.Created created -> created.hostId().equals(hostId);
			// Extensions and ends carry no host id: they are ours when the rental is.
			case RentalEvent.Extended extended -> sessions.live(extended.rentalId()).isPresent();
			case RentalEvent.Ended ended -> sessions.live(ended.rentalId()).isPresent();
		};
	}

	private void moveCheckpoint(BlockRef block) {
		jdbc.sql("""
				insert into chain_cursor (host_id, contract, block_number, block_hash, updated_at) values (?, ?, ?, ?, now())
				on conflict (host_id, contract) do update
				  set block_number = excluded.block_number, block_hash = excluded.block_hash, updated_at = now()""")
			.params(hostId, contract, block.number(), block.hash())
			.update();
	}

	private Long insert(ChainLog chainLog, String kind, BigDecimal rentalId, String payload) {
		return jdbc.sql("""
				insert into chain_events (host_id, contract, block_number, block_hash, tx_hash, log_index, kind, rental_id, payload)
				values (?, ?, ?, ?, ?, ?, ?, ?, ?::jsonb)
				on conflict (host_id, contract, tx_hash, log_index) where orphaned_at is null do nothing
				returning id""")
			.params(hostId, contract, chainLog.blockNumber(), chainLog.blockHash(), chainLog.txHash(), chainLog.logIndex(),
					kind, rentalId, payload)
			.query(Long.class)
			.optional()
			.orElse(null);
	}

	private static String kind(RentalEvent event) {
		return switch (event) {
			case RentalEvent.Created c -> "RentalCreated";
			case RentalEvent.Extended e -> "RentalExtended";
			case RentalEvent.Ended e -> "RentalEnded";
		};
	}

	private String payload(RentalEvent event) {
		Map<String, Object> fields = new LinkedHashMap<>();
		switch (event) {
			case RentalEvent.Created c -> {
				fields.put("renter", c.renter());
				fields.put("startsAt", c.startsAt().getEpochSecond());
				fields.put("endsAt", c.endsAt().getEpochSecond());
				fields.put("renterKey", "0x" + HexFormat.of().formatHex(c.renterKey()));
			}
			case RentalEvent.Extended e -> fields.put("endsAt", e.endsAt().getEpochSecond());
			case RentalEvent.Ended e -> fields.put("endedAt", e.endedAt().getEpochSecond());
		}
		return toJson(fields);
	}

	private String undecodablePayload(ChainLog chainLog, String reason) {
		Map<String, Object> fields = new LinkedHashMap<>();
		fields.put("reason", reason);
		fields.put("topics", chainLog.topics());
		fields.put("data", chainLog.data());
		return toJson(fields);
	}

	private String toJson(Map<String, Object> fields) {
		try {
			return json.writeValueAsString(fields);
		}
		catch (JsonProcessingException e) {
			throw new IllegalStateException(e);
		}
	}

}
