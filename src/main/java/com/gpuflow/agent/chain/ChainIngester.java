package com.gpuflow.agent.chain;

import com.gpuflow.agent.rental.RentalEvent;
import java.io.IOException;
import java.math.BigInteger;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import com.gpuflow.agent.config.AgentSettings;
import com.gpuflow.agent.db.DatabaseReachable;
import com.gpuflow.agent.fleet.ChainReaderDeposed;
import com.gpuflow.agent.fleet.ChainReaderElected;
import com.gpuflow.agent.fleet.Fleet;
import com.gpuflow.agent.fleet.NotTheReaderException;
import com.gpuflow.agent.rental.ChainSessions;
import com.gpuflow.agent.rental.SessionsChanged;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
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
 * Follows the chain head by polling and persists the rental events of every host registered in
 * the database exactly once, up to head − {@code CHAIN_CONFIRMATIONS}, while this agent is the
 * elected reader ({@link ChainReaderElected}); the other agents only reconcile. Before each range it checks that the checkpoint block is still
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

	private volatile boolean lifecycleRunning;

	private final boolean autoStartup;

	private final Fleet fleet;

	private final ChainSessions sessions;

	private final MeterRegistry meters;

	private final Map<String, AtomicLong> hostCheckpoints = new ConcurrentHashMap<>();

	/** Hosts that had unconfirmed rentals at the last look, and hosts whose pending rows were rewritten this term. */
	private final Set<String> hadPending = ConcurrentHashMap.newKeySet();

	private final Set<String> pendingSwept = ConcurrentHashMap.newKeySet();

	/** The reader term this agent holds, or -1: only a term holder runs the worker. */
	private volatile long term = -1;

	ChainIngester(ChainNode node, IngestionStore store, ApplicationEventPublisher events, Clock clock,
			AgentSettings settings, MeterRegistry meters, Fleet fleet, ChainSessions sessions,
			@Value("${gpuflow.chain.max-range:10000}") int maxRange,
			@Value("${gpuflow.chain.autostart:true}") boolean autoStartup) {
		this.autoStartup = autoStartup;
		this.fleet = fleet;
		this.sessions = sessions;
		this.meters = meters;
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

	/** This agent reads the chain now: for every host of the database, until deposed. */
	@EventListener
	synchronized void on(ChainReaderElected elected) {
		stopWorker();
		term = elected.term();
		hadPending.clear();
		pendingSwept.clear();
		running = true;
		worker = Thread.ofPlatform().name("chain-ingester").daemon().start(this::run);
	}

	/** Another agent may read now: stop before writing anything more (the fence would refuse it anyway). */
	@EventListener
	synchronized void on(ChainReaderDeposed deposed) {
		stopWorker();
		term = -1;
		log.info("No longer reading the chain ({})", deposed.reason());
	}

	/** Whether this agent reads the chain now. */
	public boolean reading() {
		return term >= 0;
	}

	/** A hint that there may be a new block (websocket push); polling alone is correct too. */
	public void wakeUp() {
		wake.release();
	}

	/** A host the reader writes for, with where it stands. */
	private record Member(IngestionStore.HostSessions host, Optional<IngestionStore.Checkpoint> checkpoint) {

		String hostId() {
			return host.hostId();
		}

		long from(long startBlock) {
			return checkpoint.map(c -> c.number() + 1).orElse(startBlock);
		}

	}

	/**
	 * One step for every host of the database: verify each distinct checkpoint, then read one range
	 * for the hosts at (or near) the front, which share one {@code eth_getLogs}, and one range for
	 * the hosts far behind (a host registered later, read from {@code CHAIN_START_BLOCK}), which
	 * close in on the front without holding it up and join it once within half a range.
	 * @return true when more work is ready at once (backfill, or a rollback just happened)
	 */
	public boolean step() throws IOException {
		long chainHead = node.headNumber();
		head.set(chainHead);
		IngestionStore.Fence fence = fence(chainHead);
		List<Member> members = members();
		Map<IngestionStore.Checkpoint, List<Member>> byCheckpoint = new LinkedHashMap<>();
		for (Member member : members) {
			member.checkpoint().ifPresent(c -> byCheckpoint.computeIfAbsent(c, k -> new ArrayList<>()).add(member));
		}
		for (Map.Entry<IngestionStore.Checkpoint, List<Member>> group : byCheckpoint.entrySet()) {
			Verdict verdict = verify(group.getKey(), group.getValue(), chainHead, fence);
			if (verdict == Verdict.REORGED) {
				return true;
			}
			if (verdict == Verdict.LAGGING) {
				return false;
			}
		}
		long start = settings.chainStartBlock();
		long safe = chainHead - settings.chainConfirmations();
		long front = members.stream().mapToLong(m -> m.from(start)).max().orElse(start);
		long near = front - ranges.size() / 2;
		List<Member> ahead = members.stream().filter(m -> m.from(start) >= near).toList();
		List<Member> behind = members.stream().filter(m -> m.from(start) < near).toList();
		boolean more = false;
		if (!behind.isEmpty()) {
			long from = behind.stream().mapToLong(m -> m.from(start)).min().orElseThrow();
			more = true;
			readRange(behind, from, Math.min(safe, Math.min(near - 1, from + ranges.size() - 1)), chainHead, fence);
		}
		long from = ahead.stream().mapToLong(m -> m.from(start)).min().orElse(start);
		if (from > safe) {
			refreshPending(ahead, safe, chainHead, fence);
			if (term >= 0) {
				store.heartbeat(fence); // the other agents' health reads the reader's last write
			}
			lastSuccess = clock.instant();
			return more;
		}
		long to = Math.min(safe, from + ranges.size() - 1);
		Optional<Boolean> again = readRange(ahead, from, to, chainHead, fence);
		if (again.isEmpty()) {
			return more;
		}
		if (to >= safe) {
			refreshPending(ahead, safe, chainHead, fence);
		}
		lastSuccess = clock.instant();
		return more || again.get() || to < safe;
	}

	/** The registered hosts (this agent's own always among them) and their checkpoints. */
	private List<Member> members() {
		Map<String, IngestionStore.HostSessions> hosts = new LinkedHashMap<>();
		hosts.put(settings.hostId(), new IngestionStore.HostSessions(settings.hostId(), sessions));
		for (Fleet.Host host : fleet.hosts()) {
			hosts.putIfAbsent(host.hostId(), new IngestionStore.HostSessions(host.hostId(),
					sessions.forHost(host.hostId(), host.serverPublicKey(), host.network())));
		}
		Map<String, IngestionStore.Checkpoint> saved = store.checkpoints(hosts.keySet());
		List<Member> members = new ArrayList<>(hosts.size());
		for (IngestionStore.HostSessions host : hosts.values()) {
			Optional<IngestionStore.Checkpoint> checkpoint = Optional.ofNullable(saved.get(host.hostId()));
			members.add(new Member(host, checkpoint));
			checkpoint.ifPresent(c -> checkpointOf(host.hostId()).set(c.number()));
		}
		saved.computeIfPresent(settings.hostId(), (id, c) -> {
			checkpoint.set(c.number());
			return c;
		});
		return members;
	}

	/**
	 * Reads {@code from..to} once and persists each member's part (from its own first unread block),
	 * one transaction per host with events, one for all the others.
	 * @return empty when the node's view moved and the range must be read again later; else whether
	 * to read again at once (the node refused the range size, or the tip changed while reading)
	 */
	private Optional<Boolean> readRange(List<Member> members, long from, long to, long chainHead,
			IngestionStore.Fence fence) throws IOException {
		if (from > to) {
			return Optional.of(false);
		}
		List<ChainLog> logs;
		try {
			logs = node.rentalLogs(from, to);
			ranges.succeeded();
		}
		catch (ChainNode.NodeRefusedException e) {
			if (ranges.refused()) {
				log.info("Node refused logs for {} blocks; asking for {} at a time", to - from + 1, ranges.size());
				return Optional.of(true);
			}
			throw e;
		}
		Optional<BlockRef> upTo = node.block(to);
		if (upTo.isEmpty()) {
			return Optional.empty(); // the node's view moved under us; read again next time
		}
		if (chainHead - to < TIP_CHECK_DEPTH && !logsMatchHeaders(logs)) {
			log.info("Blocks {}..{} changed while reading them; reading again", from, to);
			return Optional.of(true);
		}
		Map<String, List<ChainLog>> byHost = logsByHost(logs, members);
		List<String> quiet = new ArrayList<>();
		Instant now = clock.instant();
		for (Member member : members) {
			long own = member.from(settings.chainStartBlock());
			if (own > to) {
				continue;
			}
			List<ChainLog> mine = byHost.getOrDefault(member.hostId(), List.of())
				.stream()
				.filter(l -> l.blockNumber() >= own)
				.toList();
			if (mine.isEmpty()) {
				quiet.add(member.hostId());
				continue;
			}
			IngestionStore.Outcome outcome = store.persist(member.host(), mine, upTo.get(), now, fence,
					this::notifyOtherHost);
			eventsStored.increment(outcome.stored());
			undecodable.increment(outcome.undecodable());
			if (outcome.sessionsChanged() && member.hostId().equals(settings.hostId())) {
				events.publishEvent(new SessionsChanged("chain events up to block " + to));
			}
			moved(member.hostId(), to);
		}
		store.advance(quiet, upTo.get(), fence);
		quiet.forEach(host -> moved(host, to));
		return Optional.of(false);
	}

	/**
	 * The logs of a range sorted by the host they concern: a RentalCreated by its host id, an
	 * extension or end by the host of its rental (created in this range or stored before), a log
	 * that does not decode by every host the range is read for (each keeps its record of it).
	 */
	private Map<String, List<ChainLog>> logsByHost(List<ChainLog> logs, List<Member> members) {
		Map<String, String> hostOf = new HashMap<>();
		List<String> unknown = new ArrayList<>();
		List<ChainLog> undecodableLogs = new ArrayList<>();
		Map<ChainLog, String> rentalOf = new HashMap<>();
		for (ChainLog chainLog : logs) {
			try {
				RentalEvent event = RentalMarketLogs.decode(chainLog);
				if (event == null) {
					continue;
				}
				String rental = event.rentalId().toString();
				rentalOf.put(chainLog, rental);
				if (event instanceof RentalEvent.Created created) {
					hostOf.put(rental, created.hostId());
				}
				else if (!hostOf.containsKey(rental)) {
					unknown.add(rental);
				}
			}
			catch (RentalMarketLogs.UndecodableLogException e) {
				undecodableLogs.add(chainLog);
			}
		}
		unknown.removeAll(hostOf.keySet());
		store.hostsOfRentals(unknown).forEach(hostOf::putIfAbsent);
		Map<String, List<ChainLog>> byHost = new HashMap<>();
		for (ChainLog chainLog : logs) {
			String rental = rentalOf.get(chainLog);
			String host = rental == null ? null : hostOf.get(rental);
			if (host != null) {
				byHost.computeIfAbsent(host, h -> new ArrayList<>()).add(chainLog);
			}
		}
		if (!undecodableLogs.isEmpty()) {
			for (Member member : members) {
				byHost.computeIfAbsent(member.hostId(), h -> new ArrayList<>()).addAll(undecodableLogs);
			}
		}
		return byHost;
	}

	/**
	 * Wakes the agent of another host when its sessions changed. This agent's own reconciler hears
	 * of its host's changes directly ({@link SessionsChanged} after the commit); a NOTIFY to its own
	 * channel as well would only run a second pass.
	 */
	private void notifyOtherHost(String hostId) {
		if (!hostId.equals(settings.hostId())) {
			fleet.sessionsChanged(hostId);
		}
	}

	private void moved(String hostId, long to) {
		checkpointOf(hostId).set(to);
		if (hostId.equals(settings.hostId())) {
			checkpoint.set(to);
		}
	}

	/** Per-host checkpoint, exported as {@code gpuflow_chain_host_lag_blocks{host}} on the reader. */
	private AtomicLong checkpointOf(String hostId) {
		return hostCheckpoints.computeIfAbsent(hostId, id -> {
			AtomicLong value = new AtomicLong(-1);
			Gauge.builder("gpuflow_chain_host_lag_blocks", () -> {
				long h = head.get();
				long c = value.get();
				return reading() ? (h < 0 || c < 0 ? -1 : Math.max(0, h - c)) : Double.NaN;
			}).description("Blocks between the head and a host's checkpoint, on the agent that reads the chain")
				.tag("host", id)
				.register(meters);
			return value;
		});
	}

	private IngestionStore.Fence fence(long chainHead) {
		long current = term;
		return current < 0 ? IngestionStore.Fence.NONE : () -> fleet.fence(current, chainHead);
	}

	/** Whether the hosts of one checkpoint still stand on the chain; rolls them back if not. */
	Verdict verify(IngestionStore.Checkpoint saved, List<Member> group, long chainHead, IngestionStore.Fence fence)
			throws IOException {
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
		// newest first: a node that is only behind still has our blocks up to its head. The hosts of
		// one checkpoint read the same chain up to it; the first one's blocks speak for all.
		List<BlockRef> stored = store.storedBlocks(group.get(0).hostId(), Math.min(saved.number(), chainHead));
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
		int undone = 0;
		for (Member member : group) {
			undone += store.rollBackTo(member.host(), ancestorNumber, Optional.ofNullable(ancestor), clock.instant(), fence,
					this::notifyOtherHost);
			moved(member.hostId(), ancestorNumber);
		}
		reorgs.increment();
		log.warn("Chain reorganisation: block {} is no longer {}; rolled back {} hosts to block {} ({} events undone)",
				saved.number(), saved.hash(), group.size(), ancestorNumber, undone);
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

	/**
	 * Rewrites the unconfirmed rentals of the hosts at the front: those that have some now, and
	 * those that had some at the last look (once for every host after this agent began reading).
	 */
	private void refreshPending(List<Member> members, long safe, long chainHead, IngestionStore.Fence fence)
			throws IOException {
		if (settings.chainConfirmations() == 0 || safe >= chainHead) {
			return;
		}
		Map<String, List<RentalEvent.Created>> pending = new HashMap<>();
		Map<BigInteger, Long> blockOf = new HashMap<>();
		for (ChainLog chainLog : node.rentalLogs(Math.max(safe + 1, 0), chainHead)) {
			try {
				if (RentalMarketLogs.decode(chainLog) instanceof RentalEvent.Created created) {
					pending.computeIfAbsent(created.hostId(), h -> new ArrayList<>()).add(created);
					blockOf.put(created.rentalId(), chainLog.blockNumber());
				}
			}
			catch (RentalMarketLogs.UndecodableLogException e) {
				// recorded when the block is confirmed
			}
		}
		Set<String> withPending = new HashSet<>();
		for (Member member : members) {
			String host = member.hostId();
			boolean hasNow = pending.containsKey(host);
			if (hasNow || hadPending.contains(host) || !pendingSwept.contains(host)) {
				store.replacePending(member.host(), pending.getOrDefault(host, List.of()), blockOf, fence);
				pendingSwept.add(host);
			}
			if (hasNow) {
				withPending.add(host);
			}
		}
		hadPending.clear();
		hadPending.addAll(withPending);
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
			catch (NotTheReaderException e) {
				log.warn("Stopped reading: {}", e.getMessage());
				running = false;
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

	/** Reading begins when the fleet elects this agent ({@link ChainReaderElected}), not at start. */
	@Override
	public void start() {
		lifecycleRunning = true;
	}

	@Override
	public synchronized void stop() {
		lifecycleRunning = false;
		stopWorker();
	}

	private void stopWorker() {
		running = false;
		Thread thread = worker;
		worker = null;
		if (thread != null && thread != Thread.currentThread()) {
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
		return lifecycleRunning;
	}

}
