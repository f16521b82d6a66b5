package com.gpuflow.agent.chain;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.gpuflow.agent.config.AgentSettings;
import com.gpuflow.agent.rental.ChainSessions;
import com.gpuflow.agent.rental.RentalEvent;
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

	private final ObjectMapper json;

	private final String contract;

	IngestionStore(JdbcClient jdbc, TransactionTemplate transactions, ObjectMapper json, AgentSettings settings) {
		this.jdbc = jdbc;
		this.transactions = transactions;
		this.json = json;
		this.contract = settings.rentalContract();
	}

	/**
	 * Runs first in every transaction of the reader (the fleet's fence: it refuses the transaction
	 * once another agent reads). Tests that drive a step themselves have none.
	 */
	interface Fence {

		Fence NONE = () -> {
		};

		void check();

	}

	/** What the store writes for one host: its id and its sessions. */
	record HostSessions(String hostId, ChainSessions sessions) {
	}

	/** A transaction with only the fence: the reader says it is alive while nothing new is on chain. */
	void heartbeat(Fence fence) {
		transactions.executeWithoutResult(status -> fence.check());
	}

	/** Each given host's checkpoint; hosts never read have none. */
	Map<String, Checkpoint> checkpoints(Collection<String> hostIds) {
		Map<String, Checkpoint> found = new HashMap<>();
		jdbc.sql("select host_id, block_number, block_hash from chain_cursor where contract = ? and host_id = any(?)")
			.params(contract, hostIds.toArray(String[]::new))
			.query((rs, n) -> found.put(rs.getString(1), new Checkpoint(rs.getLong(2), rs.getString(3))))
			.list();
		return found;
	}

	/**
	 * Which of these rentals belong to which host, by their RentalCreated still on the chain:
	 * extensions and ends carry no host id.
	 */
	Map<String, String> hostsOfRentals(Collection<String> rentalIds) {
		Map<String, String> hosts = new HashMap<>();
		if (rentalIds.isEmpty()) {
			return hosts;
		}
		jdbc.sql("""
				select rental_id::text, host_id from chain_events
				where contract = ? and kind = 'RentalCreated' and orphaned_at is null and rental_id = any(?::numeric[])""")
			.params(contract, rentalIds.toArray(String[]::new))
			.query((rs, n) -> hosts.put(rs.getString(1), rs.getString(2)))
			.list();
		return hosts;
	}

	/** Stored block hashes at or below {@code atMost}, newest first. */
	List<BlockRef> storedBlocks(String hostId, long atMost) {
		return jdbc.sql("""
				select block_number, block_hash from chain_blocks
				where host_id = ? and contract = ? and block_number <= ? order by block_number desc""")
			.params(hostId, contract, atMost)
			.query((rs, n) -> new BlockRef(rs.getLong(1), rs.getString(2), null))
			.list();
	}

	/** One log of ours, decoded (or refused with a reason), about to be stored. */
	private record Kept(ChainLog log, RentalEvent event, String undecodable) {

		String key() {
			return log.txHash() + ":" + log.logIndex();
		}

	}

	/**
	 * Moves the checkpoint of hosts that had nothing in a range, in one transaction for all of them:
	 * a fleet of hundreds of quiet hosts costs a few statements per range, not a transaction each.
	 */
	void advance(Collection<String> hostIds, BlockRef upTo, Fence fence) {
		if (hostIds.isEmpty()) {
			return;
		}
		transactions.executeWithoutResult(status -> {
			fence.check();
			String[] hosts = hostIds.toArray(String[]::new);
			jdbc.sql("""
					insert into chain_blocks (host_id, contract, block_number, block_hash)
					select h, ?, ?, ? from unnest(?::text[]) as t(h)
					on conflict (host_id, contract, block_number) do update set block_hash = excluded.block_hash""")
				.params(contract, upTo.number(), upTo.hash(), hosts)
				.update();
			jdbc.sql("delete from chain_blocks where contract = ? and host_id = any(?) and block_number < ?")
				.params(contract, hosts, upTo.number() - REORG_WINDOW)
				.update();
			jdbc.sql("""
					insert into chain_cursor (host_id, contract, block_number, block_hash, updated_at)
					select h, ?, ?, ?, now() from unnest(?::text[]) as t(h)
					on conflict (host_id, contract) do update
					  set block_number = excluded.block_number, block_hash = excluded.block_hash, updated_at = now()""")
				.params(contract, upTo.number(), upTo.hash(), hosts)
				.update();
		});
	}

	/**
	 * Persists one host's part of a range and moves its checkpoint to {@code upTo}, in one
	 * transaction; when its sessions changed, its agent is woken on commit.
	 * @param logs the range's logs from the host's own first unread block on
	 */
	Outcome persist(HostSessions host, List<ChainLog> logs, BlockRef upTo, Instant now, Fence fence,
			Consumer<String> onSessionsChanged) {
		String hostId = host.hostId();
		ChainSessions sessions = host.sessions();
		return transactions.execute(status -> {
			fence.check();
			List<ChainLog> ordered = new ArrayList<>(logs);
			ordered.sort(Comparator.comparingLong(ChainLog::blockNumber).thenComparingInt(ChainLog::logIndex));
			List<Kept> kept = ours(hostId, sessions, ordered);
			// Session ids and keys first: the keys are made on another core while the events are stored.
			ChainSessions.Prepared prepared = sessions.prepare(kept.stream()
				.map(Kept::event)
				.filter(RentalEvent.Created.class::isInstance)
				.map(RentalEvent.Created.class::cast)
				.toList(), now, true);
			Map<String, Long> inserted = insertEvents(hostId, kept);

			Map<Long, String> blocks = new LinkedHashMap<>();
			List<ChainSessions.Confirmed> confirmed = new ArrayList<>();
			int undecodable = 0;
			for (Kept item : kept) {
				Long eventId = inserted.get(item.key());
				if (eventId == null) {
					continue; // already persisted: inserts are idempotent by tx hash + log index
				}
				ChainLog chainLog = item.log();
				blocks.put(chainLog.blockNumber(), chainLog.blockHash());
				if (item.event() == null) {
					// Recorded and skipped: one bad log must not stop the host (no crash loop).
					log.warn("Skipped an undecodable log at block {} tx {} index {}: {}", chainLog.blockNumber(),
							chainLog.txHash(), chainLog.logIndex(), item.undecodable());
					undecodable++;
					continue;
				}
				confirmed.add(new ChainSessions.Confirmed(eventId, item.event(),
						"block " + chainLog.blockNumber() + " tx " + chainLog.txHash() + " log " + chainLog.logIndex()));
			}
			boolean changed = sessions.apply(confirmed, prepared, now);
			if (changed) {
				onSessionsChanged.accept(hostId);
			}
			blocks.put(upTo.number(), upTo.hash());
			Long[] numbers = blocks.keySet().toArray(Long[]::new);
			String[] hashes = blocks.values().toArray(String[]::new);
			jdbc.sql("""
					insert into chain_blocks (host_id, contract, block_number, block_hash)
					select ?, ?, n, h from unnest(?::bigint[], ?::text[]) as t(n, h)
					on conflict (host_id, contract, block_number) do update set block_hash = excluded.block_hash""")
				.params(hostId, contract, numbers, hashes)
				.update();
			jdbc.sql("delete from chain_blocks where host_id = ? and contract = ? and block_number < ?")
				.params(hostId, contract, upTo.number() - REORG_WINDOW)
				.update();
			moveCheckpoint(hostId, upTo);
			return new Outcome(confirmed.size(), undecodable, changed);
		});
	}

	/**
	 * The logs that concern this host: its RentalCreated, and extensions and ends of its rentals
	 * (they carry no host id: they are ours when the rental is, including one created in this very
	 * range), plus logs that do not decode, which are kept as a record.
	 */
	private List<Kept> ours(String hostId, ChainSessions sessions, List<ChainLog> ordered) {
		List<Kept> decoded = new ArrayList<>(ordered.size());
		Set<String> ourRentals = new HashSet<>();
		Set<String> laterRentals = new HashSet<>();
		for (ChainLog chainLog : ordered) {
			try {
				RentalEvent event = RentalMarketLogs.decode(chainLog);
				if (event instanceof RentalEvent.Created created) {
					if (created.hostId().equals(hostId)) {
						ourRentals.add(created.rentalId().toString());
						decoded.add(new Kept(chainLog, event, null));
					}
				}
				else if (event != null) {
					laterRentals.add(event.rentalId().toString());
					decoded.add(new Kept(chainLog, event, null));
				}
			}
			catch (RentalMarketLogs.UndecodableLogException e) {
				decoded.add(new Kept(chainLog, null, e.getMessage()));
			}
		}
		laterRentals.removeAll(ourRentals);
		ourRentals.addAll(sessions.tracked(laterRentals));
		return decoded.stream()
			.filter(k -> k.event() == null || ourRentals.contains(k.event().rentalId().toString()))
			.toList();
	}

	/** @return the new rows' ids by tx hash and log index; rows already stored are absent */
	private Map<String, Long> insertEvents(String hostId, List<Kept> kept) {
		Map<String, Long> ids = new HashMap<>();
		if (kept.isEmpty()) {
			return ids;
		}
		int n = kept.size();
		Long[] blockNumbers = new Long[n];
		String[] blockHashes = new String[n];
		String[] txHashes = new String[n];
		Integer[] logIndexes = new Integer[n];
		String[] kinds = new String[n];
		String[] rentalIds = new String[n];
		String[] payloads = new String[n];
		for (int i = 0; i < n; i++) {
			Kept item = kept.get(i);
			blockNumbers[i] = item.log().blockNumber();
			blockHashes[i] = item.log().blockHash();
			txHashes[i] = item.log().txHash();
			logIndexes[i] = item.log().logIndex();
			kinds[i] = item.event() == null ? "Undecodable" : kind(item.event());
			rentalIds[i] = item.event() == null ? null : item.event().rentalId().toString();
			payloads[i] = item.event() == null ? undecodablePayload(item.log(), item.undecodable()) : payload(item.event());
		}
		jdbc.sql("""
				insert into chain_events (host_id, contract, block_number, block_hash, tx_hash, log_index, kind, rental_id, payload)
				select ?, ?, b, h, t, i, k, r::numeric, p::jsonb
				from unnest(?::bigint[], ?::text[], ?::text[], ?::int[], ?::text[], ?::text[], ?::text[]) as u(b, h, t, i, k, r, p)
				on conflict (host_id, contract, tx_hash, log_index) where orphaned_at is null do nothing
				returning id, tx_hash, log_index""")
			.params(hostId, contract, blockNumbers, blockHashes, txHashes, logIndexes, kinds, rentalIds, payloads)
			.query((rs, row) -> ids.put(rs.getString(2) + ":" + rs.getInt(3), rs.getLong(1)))
			.list();
		return ids;
	}

	/**
	 * Undoes what blocks above the common ancestor did: their events are marked orphaned (kept for
	 * the audit), sessions they created are REORGED_OUT, extensions and ends they carried are
	 * recomputed from the events still live, and reading resumes after the ancestor.
	 */
	int rollBackTo(HostSessions host, long ancestorNumber, Optional<BlockRef> ancestor, Instant now, Fence fence,
			Consumer<String> onSessionsChanged) {
		String hostId = host.hostId();
		ChainSessions sessions = host.sessions();
		return transactions.execute(status -> {
			fence.check();
			record Orphan(String kind, BigDecimal rentalId, long eventId, long block, int index) {
			}
			List<Orphan> orphans = new ArrayList<>(jdbc.sql("""
					update chain_events set orphaned_at = ?
					where host_id = ? and contract = ? and block_number > ? and orphaned_at is null
					returning id, kind, rental_id, block_number, log_index""")
				.params(Timestamp.from(now), hostId, contract, ancestorNumber)
				.query((rs, n) -> new Orphan(rs.getString(2), rs.getBigDecimal(3), rs.getLong(1), rs.getLong(4),
						rs.getInt(5)))
				.list());
			// Undo newest first, as the chain would have.
			orphans.sort(Comparator.comparingLong(Orphan::block).thenComparingInt(Orphan::index).reversed());
			List<ChainSessions.Orphaned> undone = new ArrayList<>(orphans.size());
			for (Orphan orphan : orphans) {
				switch (orphan.kind()) {
					case "RentalCreated" -> undone.add(new ChainSessions.Orphaned.Created(orphan.eventId()));
					case "RentalExtended" -> undone.add(new ChainSessions.Orphaned.Extended(
							orphan.rentalId().toBigIntegerExact(), liveEndsAt(hostId, orphan.rentalId())));
					case "RentalEnded" -> undone.add(new ChainSessions.Orphaned.Ended(orphan.rentalId().toBigIntegerExact()));
					default -> {
					}
				}
			}
			sessions.undo(undone, now);
			if (!undone.isEmpty()) {
				onSessionsChanged.accept(hostId);
			}
			jdbc.sql("delete from chain_blocks where host_id = ? and contract = ? and block_number > ?")
				.params(hostId, contract, ancestorNumber)
				.update();
			if (ancestor.isPresent()) {
				moveCheckpoint(hostId, ancestor.get());
			}
			else {
				// Nothing we read survives: start again from CHAIN_START_BLOCK.
				jdbc.sql("delete from chain_cursor where host_id = ? and contract = ?").params(hostId, contract).update();
			}
			return orphans.size();
		});
	}

	/** The latest end among a rental's RentalCreated and RentalExtended still on the chain. */
	private Optional<Instant> liveEndsAt(String hostId, BigDecimal rentalId) {
		return jdbc.sql("""
				select max((payload->>'endsAt')::bigint) from chain_events
				where host_id = ? and contract = ? and rental_id = ? and orphaned_at is null
				  and kind in ('RentalCreated', 'RentalExtended')""")
			.params(hostId, contract, rentalId)
			.query(Long.class)
			.optional()
			.map(Instant::ofEpochSecond);
	}

	/** Rewrites the view of rentals seen in blocks not yet confirmed. */
	void replacePending(HostSessions host, List<RentalEvent.Created> pending, Map<BigInteger, Long> blockOf,
			Fence fence) {
		transactions.executeWithoutResult(status -> {
			fence.check();
			host.sessions().replacePending(pending, blockOf);
		});
	}

	private void moveCheckpoint(String hostId, BlockRef block) {
		jdbc.sql("""
				insert into chain_cursor (host_id, contract, block_number, block_hash, updated_at) values (?, ?, ?, ?, now())
				on conflict (host_id, contract) do update
				  set block_number = excluded.block_number, block_hash = excluded.block_hash, updated_at = now()""")
			.params(hostId, contract, block.number(), block.hash())
			.update();
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
