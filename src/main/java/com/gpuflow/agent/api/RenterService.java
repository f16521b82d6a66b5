package com.gpuflow.agent.api;

import java.net.URI;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Optional;
import java.util.stream.Collectors;

import com.gpuflow.agent.config.AgentSettings;
import com.gpuflow.agent.keys.ServerIdentity;
import com.gpuflow.agent.keys.WireGuardKeys;
import com.gpuflow.agent.rental.RenterSessions;
import com.gpuflow.agent.rental.Session;
import com.gpuflow.agent.rental.SessionState;
import com.gpuflow.agent.rental.SshKeys;
import com.gpuflow.agent.rental.SshPublicKey;
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

	private final ChainIdSource chainId;

	private final ServerIdentity server;

	private final AgentSettings settings;

	private final Clock clock;

	private final ChallengeNonce nonces;

	private final SpentNonces spent;

	private final IssuingLookups lookups;

	private final SshKeys sshKeys;

	RenterService(RenterSessions sessions, ChainIdSource chainId, ServerIdentity server, AgentSettings settings,
			Clock clock, ChallengeNonce nonces, SpentNonces spent, IssuingLookups lookups, SshKeys sshKeys) {
		this.sessions = sessions;
		this.sshKeys = sshKeys;
		this.chainId = chainId;
		this.server = server;
		this.settings = settings;
		this.clock = clock;
		this.nonces = nonces;
		this.spent = spent;
		this.lookups = lookups;
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

	/**
	 * A challenge for {@code purpose}: built from what is known of the rental and a MAC'd nonce,
	 * stored nowhere. The rental's state is judged as for the signed routes (404, 410, 409), from a
	 * lookup remembered for a moment; the signed request reads it afresh.
	 */
	IssuedChallenge challenge(RentalId id, Purpose purpose) {
		Instant now = clock.instant();
		Instant issuedAt = now.truncatedTo(ChronoUnit.SECONDS);
		IssuingLookups.Lookup lookup = lookups.lookup(id);
		Session session = usableSession(id, lookup.session(), lookup.pending(), now);
		String nonce = nonces.issue(settings.hostId(), id, session.renter(), purpose, issuedAt);
		Instant expiresAt = issuedAt.plus(CHALLENGE_VALIDITY);
		return new IssuedChallenge(message(id, session.renter(), purpose, nonce, issuedAt, expiresAt), expiresAt);
	}

	private String message(RentalId id, String renter, Purpose purpose, String nonce, Instant issuedAt,
			Instant expiresAt) {
		URI publicUrl = settings.publicUrl();
		return SiweMessage.issue(publicUrl.getHost(), renter, statement(id, purpose), publicUrl, chainIdOrUnavailable(),
				nonce, issuedAt, expiresAt, "urn:gpuflow:rental:" + settings.hostId() + ":" + id, purpose.resource())
			.text();
	}

	private static String statement(RentalId id, Purpose purpose) {
		return switch (purpose) {
			case CONFIG -> "Sign in to get the WireGuard config of GPU rental " + id + ".";
			case REKEY -> "Sign in to replace the WireGuard key of GPU rental " + id + ".";
			case SSH_KEYS -> "Sign in to set the SSH keys of GPU rental " + id + ".";
		};
	}

	Delivery config(RentalId id, SignedRequest request) {
		Instant now = clock.instant();
		Session session = authorize(id, Purpose.CONFIG, request.message(), request.signature());
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
			case RenterSessions.KeyClaim.Unavailable unavailable ->
				throw ApiProblem.unavailable("unavailable", "the agent cannot open the key now; try again later");
		};
	}

	Delivery rekey(RentalId id, SignedRequest request) {
		Instant now = clock.instant();
		Session session = authorize(id, Purpose.REKEY, request.message(), request.signature());
		WireGuardKeys.KeyPairText pair = WireGuardKeys.generate();
		Session rekeyed = sessions.rekey(session, pair.publicKey(), now).orElseThrow(() -> ApiProblem.ended(id));
		log.info("rekeyed rental {}", id);
		return new Delivery(id, render(pair.privateKey(), rekeyed));
	}

	/**
	 * Replaces the SSH keys of the rental's session after an {@code ssh-keys} challenge. The keys stop
	 * being answered to sshd the moment the session is no longer ACTIVE.
	 */
	void setSshKeys(RentalId id, SignedRequest request, List<SshPublicKey> keys) {
		Instant now = clock.instant();
		Session session = authorize(id, Purpose.SSH_KEYS, request.message(), request.signature());
		if (!sshKeys.replace(session, keys, now)) {
			throw ApiProblem.ended(id);
		}
		log.info("set {} SSH key(s) of rental {}", keys.size(), id);
	}

	/**
	 * Checks a signed challenge for a route of {@code purpose} in the SPEC's order and returns the
	 * rental's live session: 404, 410 (over; for a config also already delivered), 503 (a generated
	 * key this agent could not keep), 409, then 401 unless the message is exactly a challenge this
	 * agent issued for this rental, renter and purpose, unexpired and not presented before, and 401
	 * for a signature without a recoverable address, 403 for one from another wallet. An authentic
	 * nonce is spent by the first request that presents it, whatever its outcome.
	 */
	Session authorize(RentalId id, Purpose purpose, String message, String signature) {
		Instant now = clock.instant();
		Optional<Session> found = sessions.live(id.value());
		Optional<String> presented = SiweMessage.presentedNonce(message);
		Optional<ChallengeNonce.Claims> claims = presented.flatMap(ChallengeNonce::claims);
		boolean fresh = false;
		if (found.isPresent() && claims.isPresent()) {
			ChallengeNonce.Claims c = claims.get();
			Instant expiresAt = c.issuedAt().plus(CHALLENGE_VALIDITY);
			// Only a nonce this agent issued for this rental's renter is written down: a forged one
			// costs no row.
			if (expiresAt.isAfter(now) && nonces.authentic(c, settings.hostId(), id, found.get().renter())) {
				fresh = spent.spend(presented.get(), expiresAt);
			}
		}
		Session session = usableSession(id, found, found.isEmpty() && sessions.pending(id.value()).isPresent(), now);
		if (purpose == Purpose.CONFIG && session.generatedKey() && !session.hasSealedKey()) {
			if (session.configDeliveredAt() != null) {
				throw ApiProblem.alreadyDelivered(id);
			}
			// Generated while GPUFLOW_KEY_ENCRYPTION_KEY was unset: no key was kept to serve.
			throw ApiProblem.unavailable("unavailable", "this agent has no key-encryption key, so it kept no key for rental "
					+ id + "; ask the provider, or rekey");
		}
		if (session.tunnelIp() == null) {
			throw ApiProblem.notActive(session.poolExhausted()
					? "rental " + id + " waits for a tunnel address: this host's address pool is full; try again later"
					: "rental " + id + " has no tunnel address yet; try again shortly");
		}
		if (purpose == Purpose.CONFIG && session.keyRejected() != null) {
			throw ApiProblem.keyRejected("rental " + id + ": " + session.keyRejected()
					+ "; no peer is made for it (a rekey gives the session a fresh key)");
		}
		if (!fresh || claims.get().purpose() != purpose || !message.equals(message(id, session.renter(), purpose,
				presented.get(), claims.get().issuedAt(), claims.get().issuedAt().plus(CHALLENGE_VALIDITY)))) {
			throw ApiProblem.invalidChallenge();
		}
		String signer;
		try {
			signer = PersonalSign.recoverAddress(message, signature);
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
	private Session usableSession(RentalId id, Optional<Session> found, boolean pending, Instant now) {
		if (found.isEmpty()) {
			if (pending) {
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
