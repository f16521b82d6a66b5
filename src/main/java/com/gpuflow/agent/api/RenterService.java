package com.gpuflow.agent.api;

import java.net.URI;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Optional;

import com.gpuflow.agent.config.AgentSettings;
import com.gpuflow.agent.keys.ServerIdentity;
import com.gpuflow.agent.keys.WireGuardKeys;
import com.gpuflow.agent.rental.RenterSessions;
import com.gpuflow.agent.rental.Session;
import com.gpuflow.agent.rental.SessionState;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import org.springframework.stereotype.Service;

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

	/** @param problem why an ACTIVE rental has no peer ({@code key_rejected}, {@code address_pool_full}), or null */
	record RentalView(RentalId rentalId, String state, Instant startsAt, Instant endsAt, String problem) {
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

	private final RenterSessions sessions;

	private final Challenges challenges;

	private final ChainIdSource chainId;

	private final ServerIdentity server;

	private final AgentSettings settings;

	private final Clock clock;

	RenterService(RenterSessions sessions, Challenges challenges, ChainIdSource chainId, ServerIdentity server,
			AgentSettings settings, Clock clock) {
		this.sessions = sessions;
		this.challenges = challenges;
		this.chainId = chainId;
		this.server = server;
		this.settings = settings;
		this.clock = clock;
	}

	RentalView rental(RentalId id) {
		Instant now = clock.instant();
		Optional<Session> found = sessions.live(id.value());
		if (found.isPresent()) {
			Session session = found.get();
			// The agent's own clock decides expiry, even before the reconciler has marked it.
			String state = session.state() == SessionState.ACTIVE && !session.endsAt().isAfter(now) ? "EXPIRED"
					: session.state().name();
			return new RentalView(id, state, session.startsAt(), session.endsAt(), problem(session, now));
		}
		RenterSessions.Pending pending = sessions.pending(id.value()).orElseThrow(() -> ApiProblem.notFound(id));
		return new RentalView(id, "PENDING", pending.startsAt(), pending.endsAt(), null);
	}

	/** Why a usable session has no peer, in the SPEC's words; null when nothing is wrong. */
	private static String problem(Session session, Instant now) {
		if (!session.usableAt(now)) {
			return null;
		}
		if (session.keyRejected() != null) {
			return "key_rejected";
		}
		return session.tunnelIp() == null && session.poolExhausted() ? "address_pool_full" : null;
	}

	IssuedChallenge challenge(RentalId id) {
		Instant now = clock.instant();
		Instant issuedAt = now.truncatedTo(ChronoUnit.SECONDS);
		Instant expiresAt = issuedAt.plus(CHALLENGE_VALIDITY);
		Session session = usableSession(id, sessions.live(id.value()), now);
		String nonce = Nonces.next();
		String text = message(id, session.renter(), nonce, issuedAt, expiresAt);
		challenges.insert(nonce, session.id(), text, issuedAt, expiresAt, OPEN_CHALLENGES_PER_SESSION);
		return new IssuedChallenge(text, expiresAt);
	}

	private String message(RentalId id, String renter, String nonce, Instant issuedAt, Instant expiresAt) {
		URI publicUrl = settings.publicUrl();
		return SiweMessage.issue(publicUrl.getHost(), renter, "Sign in to get the WireGuard config of GPU rental " + id + ".",
				publicUrl, chainIdOrUnavailable(), nonce, issuedAt, expiresAt,
				"urn:gpuflow:rental:" + settings.hostId() + ":" + id)
			.text();
	}

	Delivery config(RentalId id, SignedRequest request) {
		Instant now = clock.instant();
		Session session = authorize(id, request, false, now);
		if (!session.generatedKey()) {
			sessions.ownKeyDelivered(session, now);
			return new Delivery(id, render(WgQuickConfig.RENTER_KEY_PLACEHOLDER, session));
		}
		return switch (sessions.claimGeneratedKey(session, now)) {
			case RenterSessions.KeyClaim.Delivered delivered -> {
				log.info("served the one-time config of rental {}", id);
				yield new Delivery(id, render(delivered.privateKey(), session));
			}
			case RenterSessions.KeyClaim.AlreadyDelivered already -> throw ApiProblem.alreadyDelivered(id);
			case RenterSessions.KeyClaim.Unavailable unavailable -> throw keyUnavailable();
		};
	}

	Delivery rekey(RentalId id, SignedRequest request) {
		Instant now = clock.instant();
		Session session = authorize(id, request, true, now);
		WireGuardKeys.KeyPairText pair = WireGuardKeys.generate();
		Session rekeyed = sessions.rekey(session, pair.publicKey(), now).orElseThrow(() -> ApiProblem.ended(id));
		log.info("rekeyed rental {}", id);
		return new Delivery(id, render(pair.privateKey(), rekeyed));
	}

	private Session authorize(RentalId id, SignedRequest request, boolean rekey, Instant now) {
		// The nonce is spent before anything else is judged: the first request presenting it uses it
		// up whatever its outcome, so a refused attempt cannot be retried with the same challenge.
		Optional<Challenges.Challenge> challenge = challenges.spend(SiweMessage.presentedNonce(request.message()).orElse(null),
				now);
		Session session = usableSession(id, sessions.live(id.value()), now);
		if (!rekey && session.generatedKey() && !session.hasSealedKey()) {
			if (session.peerPublicKey() == null && session.configDeliveredAt() == null) {
				// No key was ever made: the agent had no key-encryption key when the rental was confirmed.
				throw keyUnavailable();
			}
			throw ApiProblem.alreadyDelivered(id);
		}
		if (session.tunnelIp() == null) {
			throw ApiProblem.notActive(session.poolExhausted()
					? "rental " + id + " waits for a tunnel address: this host's address pool is full; try again later"
					: "rental " + id + " has no tunnel address yet; try again shortly");
		}
		if (!rekey && session.keyRejected() != null) {
			throw ApiProblem.keyRejected("rental " + id + ": " + session.keyRejected()
					+ "; no peer is made for it (a rekey gives the session a fresh key)");
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
	private Session usableSession(RentalId id, Optional<Session> found, Instant now) {
		if (found.isEmpty()) {
			if (sessions.pending(id.value()).isPresent()) {
				throw ApiProblem.notActive("rental " + id + " is waiting for confirmations; try again shortly");
			}
			throw ApiProblem.notFound(id);
		}
		Session session = found.get();
		return switch (session.state()) {
			case ENDED -> throw ApiProblem.ended(id);
			case EXPIRED -> throw ApiProblem.expired(id);
			case ACTIVE -> {
				if (!session.endsAt().isAfter(now)) {
					throw ApiProblem.expired(id);
				}
				yield session;
			}
			case REORGED_OUT -> throw ApiProblem.notFound(id);
		};
	}

	private static ApiProblem keyUnavailable() {
		return ApiProblem.unavailable("unavailable", "the agent cannot open or make this rental's key now; try again later");
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

	private String render(String privateKey, Session session) {
		return new WgQuickConfig(privateKey, session.tunnelIp(), server.publicKey(), settings.wgEndpoint().toString(),
				settings.serverTunnelIp(), settings.wgKeepalive())
			.render();
	}

}
