package com.gpuflow.agent.rental;

import java.math.BigInteger;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;
import java.util.function.Predicate;
import java.util.function.Supplier;

import com.gpuflow.agent.audit.AuditLog;
import com.gpuflow.agent.config.TunnelNetwork;
import com.gpuflow.agent.ipam.Leases;
import com.gpuflow.agent.keys.RenterKeyVault;
import com.gpuflow.agent.keys.ServerIdentity;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.stereotype.Component;

/**
 * What the chain tells the sessions: confirmed events, events a reorganisation orphaned, and
 * rentals seen but not yet confirmed. Every method runs in the caller's transaction (the one that
 * also moves the chain checkpoint), so a crash replays the whole range or none of it; each takes
 * the audit chain lock itself before it touches a session.
 */
@Component
public class ChainSessions {

	private static final Logger log = LoggerFactory.getLogger(ChainSessions.class);

	/** A confirmed event of this host, with the id of its stored log and where on the chain it was. */
	public record Confirmed(long eventId, RentalEvent event, String origin) {
	}

	/** An event on blocks a reorganisation dropped. */
	public sealed interface Orphaned {

		record Created(long eventId) implements Orphaned {
		}

		/** @param liveEndsAt the latest end among the rental's events still on the chain */
		record Extended(BigInteger rentalId, Optional<Instant> liveEndsAt) implements Orphaned {
		}

		record Ended(BigInteger rentalId) implements Orphaned {
		}

	}

	/**
	 * Session ids and generated keys for the RentalCreated events of a range, drawn before the
	 * range's events are stored so the keys are made meanwhile. An id or key prepared for an event
	 * that turns out to be stored already is simply never used: no row, no key anywhere.
	 */
	public static final class Prepared {

		private final IdentityHashMap<RentalEvent.Created, Integer> slots;

		private final Long[] ids;

		private final GeneratedKeys keys;

		private Prepared(IdentityHashMap<RentalEvent.Created, Integer> slots, Long[] ids, GeneratedKeys keys) {
			this.slots = slots;
			this.ids = ids;
			this.keys = keys;
		}

		private int slot(RentalEvent.Created event) {
			Integer slot = slots.get(event);
			if (slot == null) {
				throw new IllegalArgumentException("rental " + event.rentalId() + " was not prepared");
			}
			return slot;
		}

	}

	private final SessionRows rows;

	private final PendingRentals pending;

	private final AuditLog audit;

	private final Leases leases;

	private final RenterKeyVault keys;

	/** The server's public key of this instance's host; empty for a host that has not published one. */
	private final Supplier<Optional<String>> serverKey;

	private final Counter keysRejected;

	/** Instances for the other hosts of a shared database, made once each (they hold no state of their own). */
	private final Map<String, ChainSessions> otherHosts;

	@Autowired
	ChainSessions(SessionRows rows, PendingRentals pending, AuditLog audit, Leases leases, RenterKeyVault keys,
			ServerIdentity server, MeterRegistry meters) {
		this(rows, pending, audit, leases, keys, () -> Optional.of(server.publicKey()),
				Counter.builder("gpuflow_renter_keys_rejected_total")
					.description("Renter keys refused because they equal the server's or another live session's key")
					.register(meters));
	}

	private ChainSessions(SessionRows rows, PendingRentals pending, AuditLog audit, Leases leases, RenterKeyVault keys,
			Supplier<Optional<String>> serverKey, Counter keysRejected) {
		this.rows = rows;
		this.pending = pending;
		this.audit = audit;
		this.leases = leases;
		this.keys = keys;
		this.serverKey = serverKey;
		this.keysRejected = keysRejected;
		this.otherHosts = new ConcurrentHashMap<>();
	}

	/**
	 * The sessions of one host registered in a shared database, as the chain reader writes them:
	 * that host's rows, unconfirmed rentals, audit chain and leases (from its own tunnel network),
	 * and its server key for refusing a renter key that equals it. This agent's own host is this
	 * instance. Generated renter keys are sealed with this agent's key-encryption key, which is
	 * why the agents of one database share it.
	 * @param serverPublicKey the host's server key (base64), if it published one
	 */
	public ChainSessions forHost(String hostId, Optional<String> serverPublicKey, TunnelNetwork network) {
		if (hostId.equals(rows.hostId())) {
			return this;
		}
		// Keyed by what the instance is made of: a host that re-registers with a new key or network gets a new one.
		return otherHosts.computeIfAbsent(hostId + "|" + serverPublicKey.orElse("") + "|" + network.cidr(), key -> {
			Leases hostLeases = leases.forHost(hostId, network);
			AuditLog hostAudit = audit.forHost(hostId);
			return new ChainSessions(new SessionRows(rows.jdbc(), hostAudit, hostLeases, hostId, rows.contract()),
					new PendingRentals(rows.jdbc(), hostId, rows.contract()), hostAudit, hostLeases, keys,
					() -> serverPublicKey, keysRejected);
		});
	}

	/** Draws session ids and starts making keys; with {@code async} on another core for a large range. */
	public Prepared prepare(List<RentalEvent.Created> created, Instant now, boolean async) {
		IdentityHashMap<RentalEvent.Created, Integer> slots = new IdentityHashMap<>(created.size());
		for (int i = 0; i < created.size(); i++) {
			slots.put(created.get(i), i);
		}
		Long[] ids = created.isEmpty() ? new Long[0] : rows.newIds(created.size());
		return new Prepared(slots, ids, GeneratedKeys.start(keys, created, ids, now, async));
	}

	/** Of these rental ids, those this host has a live session for (extensions and ends carry no host id). */
	public Set<String> tracked(Collection<String> rentalIds) {
		return rentalIds.isEmpty() ? Set.of() : rows.liveRentalIds(rentalIds);
	}

	/**
	 * Applies confirmed events in chain order. Runs of RentalCreated are stored together; a later
	 * extension or end in the same range sees the sessions created before it.
	 * @return whether the peers the interface should carry may have changed
	 */
	public boolean apply(List<Confirmed> inChainOrder, Prepared prepared, Instant now) {
		if (inChainOrder.isEmpty()) {
			return false;
		}
		audit.lockChain();
		Leases.Allocation addresses = leases.begin(now);
		List<Confirmed> created = new ArrayList<>();
		boolean changed = false;
		for (Confirmed confirmed : inChainOrder) {
			switch (confirmed.event()) {
				case RentalEvent.Created c -> created.add(confirmed);
				case RentalEvent.Extended extended -> {
					changed |= create(created, prepared, now, addresses);
					changed |= transition(extended.rentalId(), s -> SessionRules.extended(s, extended.endsAt(), now), now,
							addresses);
				}
				case RentalEvent.Ended ended -> {
					changed |= create(created, prepared, now, addresses);
					changed |= transition(ended.rentalId(), s -> SessionRules.ended(s, ended.endedAt(), now), now,
							addresses);
				}
			}
		}
		changed |= create(created, prepared, now, addresses);
		return changed;
	}

	/** Undoes orphaned events, newest first as the chain would have, and forgets what was pending. */
	public void undo(List<Orphaned> newestFirst, Instant now) {
		audit.lockChain();
		Leases.Allocation addresses = leases.begin(now);
		for (Orphaned orphaned : newestFirst) {
			switch (orphaned) {
				case Orphaned.Created c -> rows.createdBy(c.eventId())
					.ifPresent(s -> rows.apply(s, SessionRules.createdOrphaned(s, now), now, addresses));
				case Orphaned.Extended e ->
					transition(e.rentalId(), s -> SessionRules.extensionOrphaned(s, e.liveEndsAt()), now, addresses);
				case Orphaned.Ended e -> transition(e.rentalId(), s -> SessionRules.endOrphaned(s, now), now, addresses);
			}
		}
		pending.clear();
	}

	/** Rewrites the rentals of this host seen in blocks not yet confirmed. */
	public void replacePending(List<RentalEvent.Created> unconfirmed, Map<BigInteger, Long> blockOf) {
		pending.replace(unconfirmed, blockOf);
	}

	private boolean transition(BigInteger rentalId, Function<Session, SessionRules.Transition> rule,
			Instant now, Leases.Allocation addresses) {
		Optional<Session> found = rows.live(rentalId);
		if (found.isEmpty()) {
			return false;
		}
		SessionRules.Transition transition = rule.apply(found.get());
		rows.apply(found.get(), transition, now, addresses);
		return transition.peersMayChange();
	}

	private boolean create(List<Confirmed> created, Prepared prepared, Instant now, Leases.Allocation addresses) {
		if (created.isEmpty()) {
			return false;
		}
		Map<String, Instant> firstSeen = pending
			.take(created.stream().map(c -> c.event().rentalId().toString()).toList());
		RenterKeyVault.SealedPair[] pairs = prepared.keys.join();
		Set<String> taken = keysTaken(created);
		Predicate<String> isTaken = taken::contains;
		List<SessionRules.NewSession> sessions = new ArrayList<>(created.size());
		for (Confirmed confirmed : created) {
			RentalEvent.Created event = (RentalEvent.Created) confirmed.event();
			int slot = prepared.slot(event);
			SessionRules.NewSession session = SessionRules.created(prepared.ids[slot], confirmed.eventId(), event,
					confirmed.origin(), now, new SessionRules.KeyContext(pairs[slot], keys.canGenerate(), isTaken));
			if (session.keyRejected() != null) {
				keysRejected.increment();
				log.warn("Rental {}: {}", event.rentalId(), session.keyRejected());
			}
			else if (session.publicKey() != null && session.needsAddress()) {
				// A later rental of the same range may not take this key either.
				taken.add(session.publicKey());
			}
			sessions.add(session);
		}
		rows.insert(sessions, firstSeen, now, addresses);
		created.clear();
		return true;
	}

	/** The server's key, and the keys of this host's live sessions that renters of this batch offer. */
	private Set<String> keysTaken(List<Confirmed> created) {
		Set<String> offered = new HashSet<>();
		for (Confirmed confirmed : created) {
			RentalEvent.Created event = (RentalEvent.Created) confirmed.event();
			if (event.renterGaveKey()) {
				offered.add(Base64.getEncoder().encodeToString(event.renterKey()));
			}
		}
		Set<String> taken = new HashSet<>(rows.keysInUse(offered));
		serverKey.get().ifPresent(taken::add);
		return taken;
	}

}
