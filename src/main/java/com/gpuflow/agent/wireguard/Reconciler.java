package com.gpuflow.agent.wireguard;

import com.gpuflow.agent.rental.SessionPort;
import com.gpuflow.agent.rental.DesiredPeer;
import com.gpuflow.agent.rental.PeerObservation;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.ReentrantLock;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Makes the live interface match the sessions. A pass: ask the session side for the wanted peers,
 * read the live interface (every pass, never a cached copy, so a re-created or hand-edited
 * interface is seen), diff, apply only the difference, record what happened, and schedule the next
 * pass at the earliest of the next session deadline and the interval. Passes run on one thread,
 * never concurrently; a burst of change events coalesces into one pass in flight and one queued.
 *
 * <p>
 * A failure to read the wanted peers (database down) is never a reason to remove a peer. The pass
 * then goes by the last peers it read ({@link LastDesired}): it removes those whose endsAt has
 * passed by the agent's clock, on time, and nothing else, and records the removals once the
 * database is back. It says so in health, a metric and the log.
 *
 * <p>
 * Every pass also checks the isolation rules ({@link Firewall}) and restores them when they were
 * deleted or edited, whether or not the database can be read.
 */
public class Reconciler {

	private static final Logger log = LoggerFactory.getLogger(Reconciler.class);

	/** Scheduling slack so a pass at a deadline runs just after it, when the session has ended. */
	private static final Duration DEADLINE_MARGIN = Duration.ofMillis(5);

	/**
	 * The least a read of the wanted peers is waited for. Near an endsAt the wait shrinks towards
	 * this, so a database that stopped answering delays a due removal by at most this much.
	 */
	private static final Duration MIN_READ_WAIT = Duration.ofMillis(500);

	public enum Outcome {

		/** Nothing differed. */
		IN_SYNC,
		/** Changes were applied and the interface matched afterwards. */
		APPLIED,
		/** The wanted peers could not be read; the interface was left alone. */
		DESIRED_UNAVAILABLE,
		/** The interface is missing and could not be (re-)created. */
		INTERFACE_UNAVAILABLE,
		/** wg refused the changes, or the interface did not match afterwards. */
		APPLY_FAILED

	}

	public record PassResult(Instant at, Outcome outcome, int added, int updated, int removed, int driftRepairs,
			int livePeers, Duration took, String detail) {
	}

	private final SessionPort sessions;

	private final WireGuardInterface wireGuard;

	private final Clock clock;

	private final int keepalive;

	private final Duration interval;

	private final ReentrantLock passLock = new ReentrantLock();

	private final AtomicBoolean queued = new AtomicBoolean();

	private final ScheduledExecutorService executor;

	private volatile boolean running;

	private ScheduledFuture<?> timer;

	// State below is touched only while holding passLock.

	/** The peers as the last successful pass left them: tells drift (hand edits) from session changes. */
	private Map<String, Peer> lastConverged;

	private final Set<Long> seenLive = new HashSet<>();

	private final Map<String, PeerObservation> lastObserved = new HashMap<>();

	/** Reports the session side missed (database down right after an apply), retried next pass. */
	private final Map<Long, DesiredPeer> unreportedAdds = new LinkedHashMap<>();

	private final Set<String> unreportedRemovals = new TreeSet<>();

	/** What the last successful read wanted, with endsAt: the guide while the database is away. */
	private final LastDesired lastDesired = new LastDesired();

	/** Peers removed while the database was unreachable, with when: recorded once it is back. */
	private final Map<String, Instant> unreportedOfflineRemovals = new LinkedHashMap<>();

	private final DesiredReads reads;

	/**
	 * Platform threads, not virtual ones: the read must not wait for a carrier thread while the
	 * application's virtual threads crowd the two a small host has.
	 */
	private final ExecutorService readThreads = Executors.newCachedThreadPool(
			runnable -> Thread.ofPlatform().name("wg-desired-read").daemon().unstarted(runnable));

	private volatile String isolationProblem = "";

	private volatile PassResult lastResult;

	private final TrafficHistory traffic = new TrafficHistory();

	private volatile LazySnapshot snapshot = new LazySnapshot(null, List.of(), Instant.EPOCH);

	private volatile boolean interfacePresent;

	private volatile boolean inSync;

	private volatile int livePeers;

	private final Timer passTimer;

	private final Counter dbUnreachable;

	private final Counter driftAdds;

	private final Counter driftRemovals;

	private final Counter driftUpdates;

	private final Counter interfaceRestores;

	private final Counter firewallRepairs;

	private final Counter endedWhileUnreachable;

	private final Timer confirmationToLive;

	Reconciler(SessionPort sessions, WireGuardInterface wireGuard, Clock clock, MeterRegistry meters, int keepalive,
			Duration interval) {
		this.sessions = sessions;
		this.wireGuard = wireGuard;
		this.clock = clock;
		this.keepalive = keepalive;
		this.interval = interval;
		this.executor = Executors.newSingleThreadScheduledExecutor(
				runnable -> Thread.ofPlatform().name("wg-reconciler-" + wireGuard.name()).daemon().unstarted(runnable));
		meters.gauge("gpuflow.peers.active", this, r -> r.livePeers);
		this.passTimer = Timer.builder("gpuflow.reconcile.pass")
			.description("Duration of a reconcile pass")
			.register(meters);
		this.dbUnreachable = Counter.builder("gpuflow.reconcile.db.unreachable")
			.description("Passes that changed nothing because the wanted peers could not be read")
			.register(meters);
		this.driftAdds = driftCounter(meters, "add");
		this.driftRemovals = driftCounter(meters, "remove");
		this.driftUpdates = driftCounter(meters, "update");
		this.firewallRepairs = driftCounter(meters, "firewall");
		this.endedWhileUnreachable = Counter.builder("gpuflow.reconcile.removed.while.db.unreachable")
			.description("Peers removed at their last known endsAt while the database could not be read")
			.register(meters);
		this.reads = new DesiredReads(sessions, readThreads, this::requestPass);
		this.interfaceRestores = Counter.builder("gpuflow.wireguard.interface.restores")
			.description("Times the interface was found missing or dead and re-created")
			.register(meters);
		this.confirmationToLive = Timer.builder("gpuflow.peer.confirmation.to.live")
			.description("From a rental's confirmation to its peer being live on the interface")
			.publishPercentileHistogram()
			.serviceLevelObjectives(Duration.ofMillis(500), Duration.ofSeconds(1), Duration.ofSeconds(2))
			.register(meters);
	}

	private static Counter driftCounter(MeterRegistry meters, String kind) {
		return Counter.builder("gpuflow.reconcile.drift.repairs")
			.description("Changes not explained by session changes (hand edits, a re-created interface)")
			.tag("kind", kind)
			.register(meters);
	}

	/** Brings the interface up and starts reconciling; the first pass runs at once. */
	public void start() {
		wireGuard.ensure();
		interfacePresent = true;
		running = true;
		requestPass();
		// The isolation rules are checked on a cadence of their own rather than in every pass: the check
		// is a process start (`nft list table`, 50-130 ms on two busy cores) that a pass woken by a
		// confirmed rental should not wait for, and a fixed rate keeps "back within one interval" true
		// however often passes run (each pass re-arms the interval timer, so a steady stream of event
		// passes would postpone a check made only there).
		executor.scheduleAtFixedRate(this::checkFirewall, interval.toNanos(), interval.toNanos(), TimeUnit.NANOSECONDS);
	}

	public void stop() {
		running = false;
		executor.shutdownNow();
		readThreads.shutdownNow();
		try {
			executor.awaitTermination(10, TimeUnit.SECONDS);
		}
		catch (InterruptedException e) {
			Thread.currentThread().interrupt();
		}
	}

	/**
	 * Asks for a pass as soon as possible. While one runs, at most one more is queued: a burst of
	 * events costs two passes, not one per event.
	 */
	public void requestPass() {
		if (!running) {
			return;
		}
		if (queued.compareAndSet(false, true)) {
			try {
				executor.execute(() -> {
					queued.set(false);
					runPassQuietly();
				});
			}
			catch (java.util.concurrent.RejectedExecutionException e) {
				queued.set(false);
			}
		}
	}

	/** The live peers as the last pass read them, joined with their sessions. */
	public PeerSnapshot snapshot() {
		return snapshot.get();
	}

	/** The server's public key, for the configs renters receive. */
	public String serverPublicKey() {
		return wireGuard.publicKey();
	}

	public Optional<PassResult> lastResult() {
		return Optional.ofNullable(lastResult);
	}

	boolean interfacePresent() {
		return interfacePresent;
	}

	boolean inSync() {
		return inSync;
	}

	String interfaceName() {
		return wireGuard.name();
	}

	Optional<WireGuardInterface.Kind> implementation() {
		return wireGuard.kind();
	}

	double dbUnreachablePasses() {
		return dbUnreachable.count();
	}

	/** Whether the isolation rules were in place (or restored) at the last check. */
	boolean isolationInPlace() {
		return wireGuard.firewall().inPlace();
	}

	/** Why the isolation rules could not be installed, or empty. */
	String isolationProblem() {
		return isolationProblem;
	}

	String isolationTable() {
		return wireGuard.firewall().table();
	}

	double firewallRepairs() {
		return firewallRepairs.count();
	}

	private void runPassQuietly() {
		try {
			runPass(false);
		}
		catch (RuntimeException e) {
			// An unexpected bug must not end the scheduling: log it and try again at the interval.
			log.error("Unexpected failure in the reconcile pass for {}", wireGuard.name(), e);
			schedule(interval);
		}
	}

	/** Runs one pass now, isolation rules first, on the caller's thread (tests call this directly). */
	PassResult runPass() {
		return runPass(true);
	}

	/**
	 * @param checkFirewall also check the isolation rules; a pass does anyway while they are not known
	 * to be in place (the first pass, before any peer is added, and after a failed install)
	 */
	private PassResult runPass(boolean checkFirewall) {
		passLock.lock();
		try {
			long started = System.nanoTime();
			if (checkFirewall || !wireGuard.firewall().inPlace()) {
				convergeFirewall();
			}
			PassResult result = pass(started);
			passTimer.record(System.nanoTime() - started, TimeUnit.NANOSECONDS);
			lastResult = result;
			return result;
		}
		finally {
			passLock.unlock();
		}
	}

	private PassResult pass(long started) {
		Instant now = clock.instant();
		List<DesiredPeer> wanted;
		try {
			wanted = reads.read(now, readWait(now));
		}
		catch (RuntimeException e) {
			dbUnreachable.increment();
			inSync = false;
			// The read may have waited until a deadline: judge endsAt by the clock now, not at the start.
			return failStatic(clock.instant(), started, e);
		}
		lastDesired.remember(wanted);
		reportOfflineRemovals();
		if (reads.wasStale()) {
			// Session changes since that late read (their events found this pass busy) need a fresh one.
			requestPass();
		}

		WgDump live;
		try {
			live = readLive();
		}
		catch (RuntimeException e) {
			interfacePresent = false;
			inSync = false;
			log.error("WireGuard interface {} is unavailable and could not be re-created: {}", wireGuard.name(),
					e.getMessage());
			schedule(interval);
			return result(now, Outcome.INTERFACE_UNAVAILABLE, PeerPlan.EMPTY, 0, started, e.getMessage());
		}
		interfacePresent = true;

		Map<String, Peer> desired = peersOf(wanted);
		PeerPlan plan = PeerDiff.between(desired.values(), live.configuredPeers());
		for (PeerPlan.Conflict conflict : plan.conflicts()) {
			log.error("Unexpected: two sessions want {}; {} keeps it, {} does not get it", conflict.allowedIp(),
					conflict.keptBy(), conflict.refused());
		}

		WgDump after = live;
		if (!plan.isEmpty()) {
			try {
				recordFinalCounters(plan, live);
				wireGuard.wg().apply(plan.withAddedEndpoints(lastEndpoints(wanted, plan)));
				// Read back: what the device holds now is what we report, and it proves the apply.
				after = wireGuard.wg().dump();
			}
			catch (RuntimeException e) {
				inSync = false;
				log.error("Applying {} changes to {} failed: {}", plan.size(), wireGuard.name(), e.getMessage());
				schedule(interval);
				return result(now, Outcome.APPLY_FAILED, plan, 0, started, e.getMessage());
			}
		}
		Instant appliedAt = clock.instant();
		// Verify against the read-back only when something was applied; an empty plan is the proof.
		PeerPlan remaining = plan.isEmpty() ? plan : PeerDiff.between(desired.values(), after.configuredPeers());
		inSync = remaining.isEmpty();
		int drift = countDrift(plan);
		if (inSync) {
			lastConverged = desired;
		}
		report(wanted, live, after, plan, appliedAt);
		observe(after, appliedAt);
		judgeConnections(appliedAt);
		snapshot = new LazySnapshot(after, wanted, appliedAt);
		livePeers = after.peers().size();
		scheduleNext(appliedAt);
		if (!plan.isEmpty()) {
			log.info("Reconciled {}: +{} ~{} -{} peers ({} drift repairs), {} live", wireGuard.name(),
					plan.additions().size(), plan.updates().size(), plan.removals().size(), drift, livePeers);
		}
		if (!inSync) {
			log.error("{} still differs from the sessions after applying ({} changes left); retrying next pass",
					wireGuard.name(), remaining.size());
			return result(now, Outcome.APPLY_FAILED, plan, drift, started, "interface differs after apply");
		}
		return result(now, plan.isEmpty() ? Outcome.IN_SYNC : Outcome.APPLIED, plan, drift, started, "");
	}

	/** The isolation check on its own fixed rate, between passes. */
	private void checkFirewall() {
		passLock.lock();
		try {
			convergeFirewall();
		}
		finally {
			passLock.unlock();
		}
	}

	/** Restores the isolation rules if they were deleted or edited; counts the repair. */
	private void convergeFirewall() {
		try {
			if (wireGuard.firewall().converge() == Firewall.Check.RESTORED) {
				firewallRepairs.increment();
			}
			isolationProblem = "";
		}
		catch (RuntimeException e) {
			isolationProblem = e.getMessage();
			log.error("The isolation rules of {} are not in place and could not be installed: {}", wireGuard.name(),
					e.getMessage());
		}
	}

	/** How long to wait for the database: not past the next known endsAt (but {@link #MIN_READ_WAIT}), nor an interval. */
	private Duration readWait(Instant now) {
		Duration wait = interval;
		Optional<Instant> end = lastDesired.earliestEnd();
		if (end.isPresent() && Duration.between(now, end.get()).compareTo(wait) < 0) {
			wait = Duration.between(now, end.get());
		}
		return wait.compareTo(MIN_READ_WAIT) < 0 ? MIN_READ_WAIT : wait;
	}

	/**
	 * The database cannot be read: remove the peers whose last known endsAt has passed, change
	 * nothing else, and come back at the next endsAt.
	 */
	private PassResult failStatic(Instant now, long started, RuntimeException cause) {
		List<DesiredPeer> ended = lastDesired.ended(now);
		if (ended.isEmpty()) {
			log.warn("Could not read the wanted peers ({}); leaving {} exactly as it is", cause.toString(), wireGuard.name());
			scheduleWhileUnreachable();
			return result(now, Outcome.DESIRED_UNAVAILABLE, PeerPlan.EMPTY, 0, started, cause.toString());
		}
		PeerPlan plan;
		try {
			WgDump live = wireGuard.wg().dump();
			plan = PeerDiff.between(LastDesired.withoutEnded(live.configuredPeers(), ended), live.configuredPeers());
			if (!plan.isEmpty()) {
				wireGuard.wg().apply(plan);
			}
		}
		catch (RuntimeException e) {
			log.error("The database is unreachable and removing {} ended sessions' peers from {} failed: {}", ended.size(),
					wireGuard.name(), e.getMessage());
			schedule(MIN_READ_WAIT.compareTo(interval) < 0 ? MIN_READ_WAIT : interval);
			return result(now, Outcome.APPLY_FAILED, PeerPlan.EMPTY, 0, started, e.getMessage());
		}
		Instant removedAt = clock.instant();
		for (Peer removed : plan.removals()) {
			unreportedOfflineRemovals.putIfAbsent(removed.publicKey(), removedAt);
		}
		endedWhileUnreachable.increment(plan.removals().size());
		lastDesired.forget(ended);
		// A peer put back after an extension is a session change, not drift.
		lastConverged = null;
		log.warn("Could not read the wanted peers ({}); removed {} peers of {} whose rentals ended by their last known endsAt",
				cause.toString(), plan.removals().size(), wireGuard.name());
		scheduleWhileUnreachable();
		return result(now, Outcome.DESIRED_UNAVAILABLE, plan, 0, started, cause.toString());
	}

	/** Next pass at the next known endsAt, or after an interval. */
	private void scheduleWhileUnreachable() {
		Instant now = clock.instant();
		Duration delay = interval;
		Optional<Instant> next = lastDesired.nextEnd(now);
		if (next.isPresent()) {
			Duration until = Duration.between(now, next.get()).plus(DEADLINE_MARGIN);
			if (until.compareTo(delay) < 0) {
				delay = until;
			}
		}
		schedule(delay);
	}

	/** Removals made while the database was away, recorded with when they happened; retried until they are. */
	private void reportOfflineRemovals() {
		if (unreportedOfflineRemovals.isEmpty()) {
			return;
		}
		Map<Instant, List<String>> byTime = new TreeMap<>();
		unreportedOfflineRemovals.forEach((key, at) -> byTime.computeIfAbsent(at, t -> new ArrayList<>()).add(key));
		try {
			for (Map.Entry<Instant, List<String>> removal : byTime.entrySet()) {
				sessions.peersRemovedWhileUnreachable(removal.getValue(), removal.getKey());
				removal.getValue().forEach(unreportedOfflineRemovals::remove);
			}
		}
		catch (RuntimeException e) {
			log.warn("Could not record the peers removed while the database was unreachable ({}); retrying next pass",
					e.toString());
		}
	}

	/** Reads the interface; if it is gone (deleted, wireguard-go killed), re-creates it first. */
	private WgDump readLive() {
		try {
			return wireGuard.wg().dump();
		}
		catch (WgCommandException e) {
			log.warn("Cannot read {} ({}); re-creating it", wireGuard.name(), e.getMessage());
			wireGuard.ensure();
			interfaceRestores.increment();
			return wireGuard.wg().dump();
		}
	}

	/** One peer per public key: two sessions with the same renter key share a peer. */
	private Map<String, Peer> peersOf(List<DesiredPeer> wanted) {
		Map<String, List<String>> ipsByKey = new LinkedHashMap<>();
		for (DesiredPeer peer : wanted) {
			ipsByKey.computeIfAbsent(peer.publicKey(), k -> new ArrayList<>()).add(peer.tunnelIp());
		}
		Map<String, Peer> peers = new LinkedHashMap<>();
		ipsByKey.forEach((key, ips) -> peers.put(key, Peer.of(key, ips, keepalive)));
		return peers;
	}

	/**
	 * Changes that no session change explains: a peer we had put there is missing or altered, or a
	 * peer we never put there appeared. Unknown before the first converged pass.
	 */
	private int countDrift(PeerPlan plan) {
		if (lastConverged == null) {
			return 0;
		}
		int drift = 0;
		for (Peer added : plan.additions()) {
			if (added.equals(lastConverged.get(added.publicKey()))) {
				driftAdds.increment();
				drift++;
			}
		}
		for (Peer removed : plan.removals()) {
			if (!lastConverged.containsKey(removed.publicKey())) {
				driftRemovals.increment();
				drift++;
			}
		}
		for (PeerPlan.PeerUpdate update : plan.updates()) {
			if (update.to().equals(lastConverged.get(update.to().publicKey()))) {
				driftUpdates.increment();
				drift++;
			}
		}
		return drift;
	}

	/** Tells the session side which sessions became live and which peers went, retrying missed reports. */
	private void report(List<DesiredPeer> wanted, WgDump before, WgDump after, PeerPlan plan, Instant at) {
		Map<String, Set<String>> ipsBefore = ipsByKey(before);
		Map<String, Set<String>> ipsAfter = after == before ? ipsBefore : ipsByKey(after);
		Set<Long> wantedIds = new HashSet<>();
		for (DesiredPeer peer : wanted) {
			wantedIds.add(peer.sessionId());
			String cidr = Peer.cidr(peer.tunnelIp());
			boolean liveNow = ipsAfter.getOrDefault(peer.publicKey(), Set.of()).contains(cidr);
			boolean liveBefore = ipsBefore.getOrDefault(peer.publicKey(), Set.of()).contains(cidr);
			if (liveNow && !liveBefore) {
				unreportedAdds.put(peer.sessionId(), peer);
				if (seenLive.add(peer.sessionId()) && peer.confirmedAt() != null) {
					confirmationToLive.record(Duration.between(peer.confirmedAt(), at).abs());
				}
			}
			else if (liveNow) {
				seenLive.add(peer.sessionId());
			}
		}
		seenLive.retainAll(wantedIds);
		unreportedAdds.keySet().retainAll(wantedIds);
		for (Peer removed : plan.removals()) {
			if (!ipsAfter.containsKey(removed.publicKey())) {
				unreportedRemovals.add(removed.publicKey());
			}
		}
		// A key wanted again before its removal was reported needs no removal record.
		unreportedRemovals.removeAll(ipsAfter.keySet());
		try {
			if (!unreportedAdds.isEmpty()) {
				sessions.peersAdded(List.copyOf(unreportedAdds.values()), at);
				unreportedAdds.clear();
			}
			if (!unreportedRemovals.isEmpty()) {
				sessions.peersRemoved(List.copyOf(unreportedRemovals), at);
				unreportedRemovals.clear();
			}
		}
		catch (RuntimeException e) {
			log.warn("Could not record peer changes ({}); retrying next pass", e.toString());
		}
	}

	/** Passes on only what changed since the last call, so 10,000 idle peers cost no writes. */
	private void observe(WgDump after, Instant at) {
		List<PeerObservation> changed = new ArrayList<>();
		Set<String> keys = new HashSet<>();
		for (LivePeer peer : after.peers()) {
			keys.add(peer.publicKey());
			PeerObservation observation = new PeerObservation(peer.publicKey(), peer.peer().endpoint(),
					peer.latestHandshake(), peer.rxBytes(), peer.txBytes());
			if (!observation.equals(lastObserved.get(peer.publicKey()))) {
				changed.add(observation);
			}
		}
		lastObserved.keySet().retainAll(keys);
		traffic.record(changed.stream()
			.map(o -> new TrafficHistory.Counters(o.publicKey(), o.rxBytes(), o.txBytes()))
			.toList(), keys, at);
		if (changed.isEmpty()) {
			return;
		}
		try {
			sessions.observed(changed, at);
			changed.forEach(observation -> lastObserved.put(observation.publicKey(), observation));
		}
		catch (RuntimeException e) {
			log.warn("Could not record peer statistics ({}); retrying next pass", e.toString());
		}
	}

	/**
	 * Where each peer about to be added was last seen, so the host initiates the handshake at once
	 * (a restored peer without an endpoint waits for the renter's side to give up on its old session,
	 * about 16 s). From the sessions (survives a restart), else from this agent's last reading. Only
	 * additions: a live peer's endpoint is the device's to learn, renters roam.
	 */
	private Map<String, String> lastEndpoints(List<DesiredPeer> wanted, PeerPlan plan) {
		if (plan.additions().isEmpty()) {
			return Map.of();
		}
		Map<String, String> endpoints = new HashMap<>();
		for (DesiredPeer peer : wanted) {
			if (peer.lastEndpoint() != null) {
				endpoints.put(peer.publicKey(), peer.lastEndpoint());
			}
		}
		for (Peer added : plan.additions()) {
			PeerObservation seen = lastObserved.get(added.publicKey());
			if (!endpoints.containsKey(added.publicKey()) && seen != null && seen.endpoint().isPresent()) {
				endpoints.put(added.publicKey(), seen.endpoint().get());
			}
		}
		return endpoints;
	}

	/**
	 * Records the counters of the peers the plan removes, as read just before the removal, so what
	 * flowed after the last pass still reaches the session's figures. {@code live} was read after
	 * the sessions, only the diff lies between it and the removal: a second read would cost a dump
	 * (0.1 s at 10,000 peers) for the few bytes of a millisecond. A failure here never holds up a
	 * removal: the figures are then those of the last pass.
	 */
	private void recordFinalCounters(PeerPlan plan, WgDump live) {
		if (plan.removals().isEmpty()) {
			return;
		}
		try {
			Set<String> removed = new HashSet<>();
			plan.removals().forEach(peer -> removed.add(peer.publicKey()));
			List<PeerObservation> finals = new ArrayList<>();
			for (LivePeer peer : live.peers()) {
				if (removed.contains(peer.publicKey())) {
					finals.add(new PeerObservation(peer.publicKey(), peer.peer().endpoint(), peer.latestHandshake(),
							peer.rxBytes(), peer.txBytes()));
				}
			}
			if (!finals.isEmpty()) {
				sessions.observed(finals, clock.instant());
			}
		}
		catch (RuntimeException e) {
			log.warn("Could not record the final counters of {} removed peers ({}); removing them anyway",
					plan.removals().size(), e.toString());
		}
	}

	/** Connection states that time alone changes; a failure waits for the next pass. */
	private void judgeConnections(Instant at) {
		try {
			sessions.connectionsAged(at);
		}
		catch (RuntimeException e) {
			log.warn("Could not judge connection ages ({}); retrying next pass", e.toString());
		}
	}

	/** The last hour of one peer's traffic, in {@link TrafficHistory#BUCKET} steps, oldest first. */
	List<TrafficHistory.Bucket> traffic(String publicKey) {
		return traffic.of(publicKey, clock.instant());
	}

	private static Map<String, Set<String>> ipsByKey(WgDump dump) {
		Map<String, Set<String>> ips = new HashMap<>();
		for (LivePeer peer : dump.peers()) {
			ips.put(peer.publicKey(), peer.peer().allowedIps());
		}
		return ips;
	}

	/**
	 * Built on first read, not every pass: at 10,000 peers the join costs more than the rest of a
	 * no-op pass, and /v1/peers is read far less often than passes run.
	 */
	private static final class LazySnapshot {

		private final WgDump dump;

		private final List<DesiredPeer> wanted;

		private final Instant at;

		private PeerSnapshot built;

		LazySnapshot(WgDump dump, List<DesiredPeer> wanted, Instant at) {
			this.dump = dump;
			this.wanted = wanted;
			this.at = at;
		}

		synchronized PeerSnapshot get() {
			if (built == null) {
				built = dump == null ? PeerSnapshot.NONE : snapshotOf(dump, wanted, at);
			}
			return built;
		}

	}

	private static PeerSnapshot snapshotOf(WgDump dump, List<DesiredPeer> wanted, Instant at) {
		Map<String, List<Long>> sessionsByKey = new HashMap<>();
		for (DesiredPeer peer : wanted) {
			sessionsByKey.computeIfAbsent(peer.publicKey(), k -> new ArrayList<>()).add(peer.sessionId());
		}
		List<PeerSnapshot.Row> rows = new ArrayList<>(dump.peers().size());
		for (LivePeer peer : dump.peers()) {
			rows.add(new PeerSnapshot.Row(List.copyOf(sessionsByKey.getOrDefault(peer.publicKey(), List.of())),
					peer.publicKey(), peer.peer().allowedIps(), peer.peer().endpoint(), peer.latestHandshake(),
					peer.rxBytes(), peer.txBytes()));
		}
		return new PeerSnapshot(at, List.copyOf(rows));
	}

	private void scheduleNext(Instant now) {
		Duration delay = interval;
		try {
			Optional<Instant> deadline = sessions.nextDeadline(now);
			if (deadline.isPresent()) {
				Duration untilDeadline = Duration.between(clock.instant(), deadline.get()).plus(DEADLINE_MARGIN);
				if (untilDeadline.compareTo(delay) < 0) {
					delay = untilDeadline.isNegative() ? Duration.ZERO : untilDeadline;
				}
			}
		}
		catch (RuntimeException e) {
			log.warn("Could not read the next session deadline ({}); next pass in {}", e.toString(), interval);
		}
		schedule(delay);
	}

	private synchronized void schedule(Duration delay) {
		if (!running) {
			return;
		}
		if (timer != null) {
			timer.cancel(false);
		}
		try {
			timer = executor.schedule(this::requestPass, delay.toNanos(), TimeUnit.NANOSECONDS);
		}
		catch (java.util.concurrent.RejectedExecutionException e) {
			// Stopping.
		}
	}

	private PassResult result(Instant at, Outcome outcome, PeerPlan plan, int drift, long started, String detail) {
		return new PassResult(at, outcome, plan.additions().size(), plan.updates().size(), plan.removals().size(), drift,
				livePeers, Duration.ofNanos(System.nanoTime() - started), detail);
	}

}
