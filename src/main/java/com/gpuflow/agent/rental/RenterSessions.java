package com.gpuflow.agent.rental;

import java.math.BigInteger;
import java.time.Instant;
import java.util.List;
import java.util.Optional;

import com.gpuflow.agent.keys.RenterKeyVault;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import org.springframework.context.ApplicationEventPublisher;
import org.springframework.stereotype.Component;

/**
 * What renters may do with their sessions once the api has checked who they are: read them,
 * receive a config, and rekey. Blocking: callers run it off the event loop.
 */
@Component
public class RenterSessions {

	private static final Logger log = LoggerFactory.getLogger(RenterSessions.class);

	/** A rental of this host seen on chain but not yet confirmed. */
	public record Pending(BigInteger rentalId, String renter, Instant startsAt, Instant endsAt) {
	}

	/** The outcome of claiming the one-time generated key. */
	public sealed interface KeyClaim {

		/** Holds a private key, so it is never logged. */
		record Delivered(String privateKey) implements KeyClaim {

			@Override
			public String toString() {
				return "Delivered[...]";
			}

		}

		record AlreadyDelivered() implements KeyClaim {
		}

		/** The key-encryption key is missing or does not open the sealed key: the key is kept. */
		record Unavailable() implements KeyClaim {
		}

	}

	private final SessionRows rows;

	private final PendingRentals pending;

	private final RenterKeyVault keys;

	private final SessionTransactions transactions;

	private final ApplicationEventPublisher events;

	RenterSessions(SessionRows rows, PendingRentals pending, RenterKeyVault keys,
			SessionTransactions transactions, ApplicationEventPublisher events) {
		this.rows = rows;
		this.pending = pending;
		this.keys = keys;
		this.transactions = transactions;
		this.events = events;
	}

	/** The rental's live session; one a reorganisation removed is not live. */
	public Optional<Session> live(BigInteger rentalId) {
		return rows.live(rentalId);
	}

	public Optional<Pending> pending(BigInteger rentalId) {
		return pending.find(rentalId);
	}

	/**
	 * Takes the sealed generated key out of the session and destroys it; of any number of
	 * concurrent claims exactly one gets it. A key that cannot be opened stays where it was.
	 */
	public KeyClaim claimGeneratedKey(Session session, Instant now) {
		if (!keys.canGenerate()) {
			log.error("Rental {} has a generated key but GPUFLOW_KEY_ENCRYPTION_KEY is not set", session.rentalId());
			return new KeyClaim.Unavailable();
		}
		try {
			return transactions.write(() -> {
				Optional<byte[]> sealed = rows.claimSealedKey(session.id(), now);
				if (sealed.isEmpty()) {
					return new KeyClaim.AlreadyDelivered();
				}
				// Thrown inside the transaction, so the claim rolls back and the key survives.
				String privateKey = keys.open(sealed.get(), session.id());
				rows.append(session, SessionRules.generatedKeyDelivered());
				return new KeyClaim.Delivered(privateKey);
			});
		}
		catch (IllegalArgumentException e) {
			log.error("The sealed key of rental {} does not open with GPUFLOW_KEY_ENCRYPTION_KEY", session.rentalId());
			return new KeyClaim.Unavailable();
		}
	}

	/** A config for the renter's own key was served; only the first delivery writes anything. */
	public void ownKeyDelivered(Session session, Instant now) {
		List<SessionRules.Note> notes = SessionRules.ownKeyDelivered(session);
		if (notes.isEmpty()) {
			return;
		}
		transactions.write(() -> {
			if (rows.markFirstDelivery(session.id(), now)) {
				rows.append(session, notes);
			}
		});
	}

	/**
	 * Gives the session a new agent-generated public key; the old peer goes at the next pass,
	 * which this triggers.
	 * @return the session afterwards, empty when it is no longer usable
	 */
	public Optional<Session> rekey(Session session, String newPublicKey, Instant now) {
		Optional<Session> rekeyed = transactions.write(() -> {
			Optional<Session> locked = rows.lock(session.id());
			Optional<SessionRules.Transition> transition = locked
				.flatMap(current -> SessionRules.rekeyed(current, newPublicKey, now));
			transition.ifPresent(t -> rows.apply(locked.get(), t, now, null));
			return transition.map(SessionRules.Transition::next);
		});
		if (rekeyed.isPresent()) {
			// After the commit, so the reconciler reads the new key when it swaps the peer.
			events.publishEvent(new SessionsChanged("rekeyed rental " + session.rentalId()));
		}
		return rekeyed;
	}

}
