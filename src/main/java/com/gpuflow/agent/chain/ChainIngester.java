package com.gpuflow.agent.chain;

import com.gpuflow.agent.rental.RentalEvent;
import java.io.IOException;
import java.math.BigInteger;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import com.gpuflow.agent.config.AgentSettings;
import com.gpuflow.agent.db.DatabaseReachable;
import com.gpuflow.agent.rental.SessionsChanged;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import org.springframework.beans.factory.annotation.Value;
import org.springframework.context.ApplicationEventPublisher;
import org.springframework.context.SmartLifecycle;
import org.springframework.context.event.EventListener;
import org.springframework.dao.DataAccessException;
import org.springframework.stereotype.Component;

/**
 * Follows the chain head by polling and persists this host's rental events exactly once, up to
 * head − {@code CHAIN_CONFIRMATIONS}. Before each range it checks that the checkpoint block is still
 * on the chain; if not, it walks back the stored block hashes to the common ancestor and undoes what
 * the orphaned blocks did. A head below the checkpoint is a lagging node until hashes say otherwise.
 */
@Component
public class ChainIngester implements SmartLifecycle {

	private static final Logger log = LoggerFactory.getLogger(ChainIngester.class);

	/** Ranges ending this close to the head have their logs' block hashes checked against the headers. */
	private static final int TIP_CHECK_DEPTH = 64;

	private static final Duration MAX_BACKOFF = Duration.ofSeconds(30);

	/**
	 * Database errors back off to at most this. Each failed attempt already waits for the pool's
	 * connection timeout, so retrying often costs the database nothing, while a long wait kept the
	 * agent blind to the chain for up to 30 s after the database returned.
	 */
	private static final Duration MAX_DATABASE_BACKOFF = Duration.ofSeconds(1);

	public enum Verdict {

		CANONICAL, LAGGING, REORGED

	}

	private final ChainNode node;

	private final IngestionStore store;

	private final ApplicationEventPublisher events;

	private final Clock clock;

	private final AgentSettings settings;

	private final LogRangeSizer ranges;

	private final Semaphore wake = new Semaphore(0);

	private final AtomicLong head = new AtomicLong(-1);

	private final AtomicLong checkpoint = new AtomicLong(-1);

	private final Counter reorgs;

	private final Counter nodeErrors;

	private final Counter databaseErrors;

	private final Counter eventsStored;

	private final Counter undecodable;

	private volatile Instant lastSuccess;

	private volatile String lastError;

	private volatile Thread worker;

	private volatile boolean running;

	private final boolean autoStartup;

	ChainIngester(ChainNode node, IngestionStore store, ApplicationEventPublisher events, Clock clock,
			AgentSettings settings, MeterRegistry meters,
			@Value("${gpuflow.chain.max-range:10000}") int maxRange,
			@Value("${gpuflow.chain.autostart:true}") boolean autoStartup) {
		this.autoStartup = autoStartup;
		this.ranges = new LogRangeSizer(Math.min(2_000, maxRange), maxRange);
		this.node = node;
		this.store = store;
		this.events = events;
		this.clock = clock;
		this.settings = settings;
		meters.gauge("gpuflow_chain_head_block", head);
		meters.gauge("gpuflow_chain_checkpoint_block", checkpoint);
		meters.gauge("gpuflow_chain_lag_blocks", this, ChainIngester::lagBlocks);
		this.reorgs = Counter.builder("gpuflow_chain_reorgs_total").register(meters);
		this.nodeErrors = Counter.builder("gpuflow_chain_node_errors_total").register(meters);
		this.databaseErrors = Counter.builder("gpuflow_chain_database_errors_total").register(meters);
		this.eventsStored = Counter.builder("gpuflow_chain_events_total").register(meters);
		this.undecodable = Counter.builder("gpuflow_chain_undecodable_logs_total").register(meters);
	}

	/** The database is back: ingest what happened on chain meanwhile now, not after the backoff. */
	@EventListener
	void on(DatabaseReachable event) {
		wakeUp();
	}

	/** A hint that there may be a new block (websocket push); polling alone is correct too. */
	public void wakeUp() {
		wake.release();
	}

	/**
	 * One step: verify the checkpoint, then read and persist one range.
	 * @return true when more work is ready at once (backfill, or a rollback just happened)
	 */
	public boolean step() throws IOException {
		long chainHead = node.headNumber();
		head.set(chainHead);
		Optional<IngestionStore.Checkpoint> saved = store.checkpoint();
		if (saved.isPresent()) {
			checkpoint.set(saved.get().number());
			Verdict verdict = verify(saved.get(), chainHead);
			if (verdict == Verdict.REORGED) {
				return true;
			}
			if (verdict == Verdict.LAGGING) {
				return false;
			}
		}
		long from = saved.map(c -> c.number() + 1).orElse(settings.chainStartBlock());
		long safe = chainHead - settings.chainConfirmations();
		if (from > safe) {
			refreshPending(safe, chainHead);
			lastSuccess = clock.instant();
			return false;
		}
		long to = Math.min(safe, from + ranges.size() - 1);
		List<ChainLog> logs;
		try {
			logs = node.rentalLogs(from, to);
			ranges.succeeded();
		}
		catch (ChainNode.NodeRefusedException e) {
			if (ranges.refused()) {
				log.info("Node refused logs for {} blocks; asking for {} at a time", to - from + 1, ranges.size());
				return true;
			}
			throw e;
		}
		Optional<BlockRef> upTo = node.block(to);
		if (upTo.isEmpty()) {
			return false; // the node's view moved under us; read again next time
		}
		if (chainHead - to < TIP_CHECK_DEPTH && !logsMatchHeaders(logs)) {
			log.info("Blocks {}..{} changed while reading them; reading again", from, to);
			return true;
		}
		IngestionStore.Outcome outcome = store.persist(logs, upTo.get(), clock.instant());
		checkpoint.set(to);
		eventsStored.increment(outcome.stored());
		undecodable.increment(outcome.undecodable());
		if (outcome.sessionsChanged()) {
			events.publishEvent(new SessionsChanged("chain events up to block " + to));
		}
		if (to >= safe) {
			refreshPending(safe, chainHead);
		}
		lastSuccess = clock.instant();
		return to < safe;
	}

	Verdict verify(IngestionStore.Checkpoint saved, long chainHead) throws IOException {
		if (saved.number() <= chainHead) {
			Optional<BlockRef> current = node.block(saved.number());
			if (current.isEmpty()) {
				return Verdict.LAGGING;
			}
			if (current.get().hash().equalsIgnoreCase(saved.hash())) {
				return Verdict.CANONICAL;
			}
		}
		// Either the hash under the checkpoint changed, or the head is below it. Compare stored hashes,
		// newest first: a node that is only behind still has our blocks up to its head.
		List<BlockRef> stored = store.storedBlocks(Math.min(saved.number(), chainHead));
		if (saved.number() > chainHead && stored.isEmpty()) {
			// Nothing of ours at or below the node's head to compare: it cannot prove a reorganisation yet.
			return Verdict.LAGGING;
		}
		if (saved.number() > chainHead) {
			Optional<BlockRef> current = node.block(stored.get(0).number());
			if (current.isPresent() && current.get().hash().equalsIgnoreCase(stored.get(0).hash())) {
				log.info("Node head {} is below the checkpoint {} but on our chain: waiting for it", chainHead, saved.number());
				return Verdict.LAGGING;
			}
		}
		BlockRef ancestor = null;
		for (BlockRef block : stored) {
			Optional<BlockRef> current = node.block(block.number());
			if (current.isPresent() && current.get().hash().equalsIgnoreCase(block.hash())) {
				ancestor = block;
				break;
			}
		}
		if (ancestor == null) {
			// Deeper than the stored window: take the chain's word for the block below the oldest we kept.
			long oldest = stored.isEmpty() ? saved.number() : stored.get(stored.size() - 1).number();
			long fallback = oldest - 1;
			log.error("Reorganisation deeper than the {} stored blocks: rewinding to block {}", IngestionStore.REORG_WINDOW,
					fallback);
			ancestor = fallback < settings.chainStartBlock() ? null : node.block(fallback).orElse(null);
		}
		long ancestorNumber = ancestor == null ? settings.chainStartBlock() - 1 : ancestor.number();
		int undone = store.rollBackTo(ancestorNumber, Optional.ofNullable(ancestor), clock.instant());
		reorgs.increment();
		checkpoint.set(ancestorNumber);
		log.warn("Chain reorganisation: block {} is no longer {}; rolled back to block {} ({} events undone)",
				saved.number(), saved.hash(), ancestorNumber, undone);
		events.publishEvent(new SessionsChanged("reorganisation back to block " + ancestorNumber));
		return Verdict.REORGED;
	}

	private boolean logsMatchHeaders(List<ChainLog> logs) throws IOException {
		Map<Long, String> hashes = new TreeMap<>();
		for (ChainLog chainLog : logs) {
			hashes.put(chainLog.blockNumber(), chainLog.blockHash());
		}
		Map<Long, String> current = node.blockHashes(hashes.keySet());
		for (Map.Entry<Long, String> entry : hashes.entrySet()) {
			String now = current.get(entry.getKey());
			if (now == null || !now.equalsIgnoreCase(entry.getValue())) {
				return false;
			}
		}
		return true;
	}

	private void refreshPending(long safe, long chainHead) throws IOException {
		if (settings.chainConfirmations() == 0 || safe >= chainHead) {
			return;
		}
		List<RentalEvent.Created> pending = new ArrayList<>();
		Map<BigInteger, Long> blockOf = new HashMap<>();
		for (ChainLog chainLog : node.rentalLogs(Math.max(safe + 1, 0), chainHead)) {
			try {
				if (RentalMarketLogs.decode(chainLog) instanceof RentalEvent.Created created
						&& created.hostId().equals(settings.hostId())) {
					pending.add(created);
					blockOf.put(created.rentalId(), chainLog.blockNumber());
				}
			}
			catch (RentalMarketLogs.UndecodableLogException e) {
				// recorded when the block is confirmed
			}
		}
		store.replacePending(pending, blockOf);
	}

	private void run() {
		Duration backoff = Duration.ZERO;
		while (running) {
			try {
				boolean more = step();
				if (!backoff.isZero()) {
					log.info("Chain ingestion recovered");
				}
				backoff = Duration.ZERO;
				lastError = null;
				if (!more) {
					wake.drainPermits();
					wake.tryAcquire(settings.chainPollInterval().toMillis(), TimeUnit.MILLISECONDS);
				}
			}
			catch (InterruptedException e) {
				Thread.currentThread().interrupt();
				return;
			}
			catch (IOException | RuntimeException e) {
				if (e instanceof DataAccessException) {
					databaseErrors.increment();
				}
				else {
					nodeErrors.increment();
				}
				backoff = backoff.isZero() ? Duration.ofMillis(500) : min(backoff.multipliedBy(2), MAX_BACKOFF);
				if (e instanceof DataAccessException) {
					backoff = min(backoff, MAX_DATABASE_BACKOFF);
				}
				String what = e instanceof DataAccessException ? "database" : "chain node";
				lastError = what + ": " + e.getMessage();
				log.warn("Chain ingestion paused, {} unavailable ({}); retrying in {} ms", what, e.getMessage(),
						backoff.toMillis());
				try {
					// Woken early when the database answers again (DatabaseReachable) or a new head is pushed.
					wake.tryAcquire(backoff.toMillis(), TimeUnit.MILLISECONDS);
				}
				catch (InterruptedException interrupted) {
					Thread.currentThread().interrupt();
					return;
				}
			}
		}
	}

	private static Duration min(Duration a, Duration b) {
		return a.compareTo(b) < 0 ? a : b;
	}

	public long lagBlocks() {
		long h = head.get();
		long c = checkpoint.get();
		return h < 0 || c < 0 ? -1 : Math.max(0, h - c);
	}

	public long headBlock() {
		return head.get();
	}

	public long checkpointBlock() {
		return checkpoint.get();
	}

	public Optional<Instant> lastSuccess() {
		return Optional.ofNullable(lastSuccess);
	}

	public Optional<String> lastError() {
		return Optional.ofNullable(lastError);
	}

	@Override
	public void start() {
		running = true;
		worker = Thread.ofPlatform().name("chain-ingester").daemon().start(this::run);
	}

	@Override
	public void stop() {
		running = false;
		Thread thread = worker;
		if (thread != null) {
			thread.interrupt();
			try {
				thread.join(5_000);
			}
			catch (InterruptedException e) {
				Thread.currentThread().interrupt();
			}
		}
	}

	/** Off only for benchmarks and tests that drive {@link #step()} themselves. */
	@Override
	public boolean isAutoStartup() {
		return autoStartup;
	}

	@Override
	public boolean isRunning() {
		return running;
	}

}
