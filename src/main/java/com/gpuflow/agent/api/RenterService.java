package com.gpuflow.agent.api;

import java.net.URI;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

import com.gpuflow.agent.audit.AuditKind;
import com.gpuflow.agent.audit.AuditLog;
import com.gpuflow.agent.config.AgentSettings;
import com.gpuflow.agent.keys.RenterKeyVault;
import com.gpuflow.agent.keys.ServerIdentity;
import com.gpuflow.agent.keys.WireGuardKeys;
import com.gpuflow.agent.rental.SessionsChanged;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import org.springframework.context.ApplicationEventPublisher;
import org.springframework.stereotype.Service;
import org.springframework.transaction.support.TransactionTemplate;

/**
 * What the renter routes do, blocking and free of HTTP. Each refusal is an {@link ApiProblem}, and
 * the checks run in the SPEC's order: unknown, over, already delivered, not active, challenge,
 * signature, renter.
 */
@Service
class RenterService {

	private static final Logger log = LoggerFactory.getLogger(RenterService.class);

	static final Duration CHALLENGE_VALIDITY = Duration.ofMinutes(5);

	/**
	 * Open challenges kept per session: far more than a renter with a few devices and retries needs
	 * (50 parallel fetches are tested), few enough that asking in a loop cannot grow the table.
	 */
	static final int OPEN_CHALLENGES_PER_SESSION = 64;

	record RentalView(RentalId rentalId, String state, Instant startsAt, Instant endsAt) {
	}

	record IssuedChallenge(String message, Instant expiresAt) {
	}

	record SignedRequest(String message, String signature) {

		@Override
		public String toString() {
			return "SignedRequest[...]";
		}

	}

	/** A config for the renter; holds a private key, so it is never logged. */
	record Delivery(RentalId rentalId, String config) {

		@Override
		public String toString() {
			return "Delivery[rental=" + rentalId + "]";
		}

	}

	private final Rentals rentals;

	private final AuditLog audit;

	private final TransactionTemplate transactions;

	private final ApplicationEventPublisher events;

	private final ChainIdSource chainId;

	private final ServerIdentity server;

	private final AgentSettings settings;

	private final RenterKeyVault keys;

	private final Clock clock;

	RenterService(Rentals rentals, AuditLog audit, TransactionTemplate transactions, ApplicationEventPublisher events,
			ChainIdSource chainId, ServerIdentity server, RenterKeyVault keys, AgentSettings settings, Clock clock) {
		this.rentals = rentals;
		this.audit = audit;
		this.transactions = transactions;
		this.events = events;
		this.chainId = chainId;
		this.server = server;
		this.settings = settings;
		this.keys = keys;
		this.clock = clock;
	}

	RentalView rental(RentalId id) {
		Instant now = clock.instant();
		Optional<Rentals.Session> session = rentals.findSession(id);
		if (session.isPresent()) {
			Rentals.Session s = session.get();
			// The agent's own clock decides expiry, even before the reconciler has marked it.
			String state = "ACTIVE".equals(s.state()) && !s.endsAt().isAfter(now) ? "EXPIRED" : s.state();
			return new RentalView(id, state, s.startsAt(), s.endsAt());
		}
		Rentals.Pending pending = rentals.findPending(id).orElseThrow(() -> ApiProblem.notFound(id));
		return new RentalView(id, "PENDING", pending.startsAt(), pending.endsAt());
	}

	IssuedChallenge challenge(RentalId id) {
		Instant now = clock.instant();
		Instant issuedAt = now.truncatedTo(ChronoUnit.SECONDS);
		Instant expiresAt = issuedAt.plus(CHALLENGE_VALIDITY);
		Known known = knownSessions.get(id);
		Optional<Rentals.Session> current;
		if (known == null) {
			current = rentals.findSession(id);
		}
		else {
			// A rental asked for before: build the message for the session it had then and store it only if
			// that session is still the rental's live, usable one, checked in the same statement.
			String nonce = Nonces.next();
			String text = message(id, known.renter(), nonce, issuedAt, expiresAt);
			Rentals.Issued issued = rentals.insertChallengeIfLive(id, known.sessionId(), nonce, text, issuedAt, expiresAt, now,
					OPEN_CHALLENGES_PER_SESSION);
			if (issued.stored()) {
				return new IssuedChallenge(text, expiresAt);
			}
			knownSessions.remove(id);
			// Its session changed: judge the session as it is now, read by that same statement.
			current = issued.session();
		}
		Rentals.Session session = liveSession(id, current, now);
		String nonce = Nonces.next();
		String text = message(id, session.renter(), nonce, issuedAt, expiresAt);
		rentals.insertChallenge(nonce, session.id(), text, issuedAt, expiresAt, OPEN_CHALLENGES_PER_SESSION);
		remember(id, session);
		return new IssuedChallenge(text, expiresAt);
	}

	private String message(RentalId id, String renter, String nonce, Instant issuedAt, Instant expiresAt) {
		URI publicUrl = settings.publicUrl();
		return SiweMessage.issue(publicUrl.getHost(), renter, "Sign in to get the WireGuard config of GPU rental " + id + ".",
				publicUrl, chainIdOrUnavailable(), nonce, issuedAt, expiresAt,
				"urn:gpuflow:rental:" + settings.hostId() + ":" + id)
			.text();
	}

	/**
	 * Which session a rental had when it was last asked for. Only a hint for building the next
	 * challenge: the statement that stores it checks the session is still the live, usable one.
	 */
	private record Known(long sessionId, String renter) {
	}

	private static final int KNOWN_LIMIT = 100_000;

	private final ConcurrentHashMap<RentalId, Known> knownSessions = new ConcurrentHashMap<>();

	private void remember(RentalId id, Rentals.Session session) {
		if (knownSessions.size() >= KNOWN_LIMIT) {
			knownSessions.clear();
		}
		knownSessions.put(id, new Known(session.id(), session.renter()));
	}

	Delivery config(RentalId id, SignedRequest request) {
		Instant now = clock.instant();
		Rentals.Session session = authorize(id, request, false, now);
		if (!session.generatedKey()) {
			// Only the first delivery is recorded; a refetch costs no write at all.
			if (session.configDeliveredAt() == null) {
				transactions.executeWithoutResult(tx -> {
					audit.lockChain();
					if (rentals.markFirstDelivery(session.id(), now)) {
						audit.append(session.id(), id.value(), AuditKind.CONFIG_DELIVERED, "renter's own key");
					}
				});
			}
			return new Delivery(id, render(WgQuickConfig.RENTER_KEY_PLACEHOLDER, session));
		}
		if (!keys.canGenerate()) {
			log.error("rental {} has a sealed key but GPUFLOW_KEY_ENCRYPTION_KEY is not set", id);
			throw ApiProblem.unavailable("key_unavailable", "the agent cannot open the key now; try again later");
		}
		Delivery delivery = transactions.execute(tx -> {
			audit.lockChain();
			byte[] sealed = rentals.claimSealedKey(session.id(), now).orElseThrow(() -> ApiProblem.alreadyDelivered(id));
			String privateKey;
			try {
				privateKey = keys.open(sealed, session.id());
			}
			catch (IllegalArgumentException e) {
				// Thrown inside the transaction, so the claim rolls back and the key survives.
				log.error("the sealed key of rental {} does not open with GPUFLOW_KEY_ENCRYPTION_KEY", id);
				throw ApiProblem.unavailable("key_unavailable", "the agent cannot open the key now; try again later");
			}
			audit.append(session.id(), id.value(), AuditKind.CONFIG_DELIVERED, "generated key");
			audit.append(session.id(), id.value(), AuditKind.KEY_DESTROYED, "served once");
			return new Delivery(id, render(privateKey, session));
		});
		log.info("served the one-time config of rental {}", id);
		return delivery;
	}

	Delivery rekey(RentalId id, SignedRequest request) {
		Instant now = clock.instant();
		Rentals.Session session = authorize(id, request, true, now);
		WireGuardKeys.KeyPairText pair = WireGuardKeys.generate();
		transactions.executeWithoutResult(tx -> {
			audit.lockChain();
			Rentals.Session locked = rentals.lockActive(session.id(), now).orElseThrow(() -> ApiProblem.ended(id));
			rentals.replaceKey(locked.id(), pair.publicKey(), locked.keySealed(), now);
			audit.append(locked.id(), id.value(), AuditKind.REKEYED, "new peer public key " + pair.publicKey());
			if (locked.keySealed()) {
				audit.append(locked.id(), id.value(), AuditKind.KEY_DESTROYED, "replaced by rekey before delivery");
			}
			audit.append(locked.id(), id.value(), AuditKind.CONFIG_DELIVERED, "generated key, rekey");
		});
		// After the commit, so the reconciler reads the new key when it swaps the peer.
		events.publishEvent(new SessionsChanged("rekeyed rental " + id));
		log.info("rekeyed rental {}", id);
		return new Delivery(id, render(pair.privateKey(), session));
	}

	private Rentals.Session authorize(RentalId id, SignedRequest request, boolean rekey, Instant now) {
		// The nonce is spent before anything else is judged: the first request presenting it uses it
		// up whatever its outcome, so a refused attempt cannot be retried with the same challenge.
		// One statement spends the nonce and reads the session.
		Rentals.SpentAndSession spent = rentals.spendAndFindSession(SiweMessage.presentedNonce(request.message()).orElse(null),
				id, now);
		Optional<Rentals.Challenge> challenge = spent.challenge();
		Rentals.Session session = liveSession(id, spent.session(), now);
		if (!rekey && session.generatedKey() && !session.keySealed()) {
			throw ApiProblem.alreadyDelivered(id);
		}
		if (session.tunnelIp() == null) {
			throw ApiProblem.notActive(session.poolExhausted()
					? "rental " + id + " waits for a tunnel address: this host's address pool is full; try again later"
					: "rental " + id + " has no tunnel address yet; try again shortly");
		}
		if (challenge.filter(c -> c.sessionId() == session.id() && c.message().equals(request.message())).isEmpty()) {
			throw ApiProblem.invalidChallenge();
		}
		String signer;
		try {
			signer = PersonalSign.recoverAddress(request.message(), request.signature());
		}
		catch (PersonalSign.InvalidSignature e) {
			throw ApiProblem.invalidSignature(e.getMessage());
		}
		if (!signer.equalsIgnoreCase(session.renter())) {
			throw ApiProblem.notRenter();
		}
		return session;
	}

	/** The session of a rental that may still be used: 404 unknown, 410 over, 409 pending. */
	private Rentals.Session liveSession(RentalId id, Optional<Rentals.Session> found, Instant now) {
		if (found.isEmpty()) {
			if (rentals.findPending(id).isPresent()) {
				throw ApiProblem.notActive("rental " + id + " is waiting for confirmations; try again shortly");
			}
			throw ApiProblem.notFound(id);
		}
		Rentals.Session session = found.get();
		switch (session.state()) {
			case "ENDED" -> throw ApiProblem.ended(id);
			case "EXPIRED" -> throw ApiProblem.expired(id);
			case "ACTIVE" -> {
				if (!session.endsAt().isAfter(now)) {
					throw ApiProblem.expired(id);
				}
			}
			default -> throw ApiProblem.notFound(id);
		}
		return session;
	}

	private long chainIdOrUnavailable() {
		try {
			return chainId.chainId();
		}
		catch (ChainIdSource.ChainUnavailableException e) {
			log.warn("cannot issue a challenge: {}", e.getMessage());
			throw ApiProblem.unavailable("chain_unavailable", "the chain node does not answer; try again shortly");
		}
	}

	private String render(String privateKey, Rentals.Session session) {
		return new WgQuickConfig(privateKey, session.tunnelIp(), server.publicKey(), settings.wgEndpoint().toString(),
				settings.serverTunnelIp(), settings.wgKeepalive())
			.render();
	}

}
