package com.gpuflow.agent.api;

import java.time.Duration;
import java.util.Optional;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.gpuflow.agent.rental.RenterSessions;
import com.gpuflow.agent.rental.Session;
import com.gpuflow.agent.rental.SessionsChanged;

import org.springframework.context.event.EventListener;
import org.springframework.stereotype.Component;

/**
 * What issuing a challenge needs to know of a rental (its live session or that it is pending),
 * remembered for a moment, so that a client asking for challenges in a loop costs the database
 * nothing. It is only a hint: a request that presents a signed challenge reads the session afresh.
 * Forgotten at once when this agent changes sessions, and after {@link #TTL} anyway (the changes an
 * agent of another host makes in a shared database).
 */
@Component
class IssuingLookups {

	static final Duration TTL = Duration.ofSeconds(2);

	/** Enough for every rental of a large host; an address flooding unknown ids is rate limited. */
	static final int LIMIT = 20_000;

	record Lookup(Optional<Session> session, boolean pending) {
	}

	private final RenterSessions sessions;

	private final Cache<RentalId, Lookup> cache = Caffeine.newBuilder().expireAfterWrite(TTL).maximumSize(LIMIT).build();

	IssuingLookups(RenterSessions sessions) {
		this.sessions = sessions;
	}

	Lookup lookup(RentalId id) {
		return cache.get(id, this::read);
	}

	private Lookup read(RentalId id) {
		Optional<Session> session = sessions.live(id.value());
		return new Lookup(session, session.isEmpty() && sessions.pending(id.value()).isPresent());
	}

	@EventListener
	void on(SessionsChanged changed) {
		cache.invalidateAll();
	}

}
