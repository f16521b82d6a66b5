package com.gpuflow.agent.rental;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

import com.gpuflow.agent.audit.AuditKind;

/**
 * The rules of a session's connection, free of I/O: from what the interface shows (the latest
 * handshake) and the time, the connection state, its setup time, connected time and drops, the
 * audit lines and the metric events. {@link SessionPeers} reads and writes the rows.
 *
 * <p>
 * A peer is {@code connected} while its latest handshake is at most {@code lostAfter} old:
 * WireGuard re-handshakes at least every 2 minutes while packets flow (persistent keepalive keeps
 * them flowing), and rejects a session older than 180 s, so an older handshake means no working
 * session. {@code lost} is only for a peer that was connected; one that never handshook is
 * {@code waiting}.
 */
final class ConnectionRules {

	/** A setup without a handshake this long after its start counts as not established. */
	static final Duration SETUP_DEADLINE = Duration.ofSeconds(60);

	private ConnectionRules() {
	}

	enum State {

		WAITING, CONNECTED, LOST;

		String code() {
			return name().toLowerCase(Locale.ROOT);
		}

		static State of(String code) {
			return code == null ? null : valueOf(code.toUpperCase(Locale.ROOT));
		}

	}

	enum SetupOutcome {

		ESTABLISHED, NOT_ESTABLISHED;

		String code() {
			return name().toLowerCase(Locale.ROOT);
		}

		static SetupOutcome of(String code) {
			return code == null ? null : valueOf(code.toUpperCase(Locale.ROOT));
		}

	}

	/**
	 * A session's connection as stored.
	 * @param state null while the session has no peer on the interface
	 * @param setupFrom config delivered (generated key) or peer live (own key); null before
	 * @param firstHandshakeAt null before the first handshake
	 * @param lastHandshakeAt the latest handshake seen, null before the first
	 * @param connectedSince start of the current connected stretch, null unless connected
	 * @param connectedSeconds the connected stretches already closed
	 * @param setupSeconds null before the first handshake
	 * @param setupOutcome null until the setup is judged
	 */
	record Connection(State state, Instant setupFrom, Instant firstHandshakeAt, Instant lastHandshakeAt,
			Instant connectedSince, double connectedSeconds, int drops, Double setupSeconds, SetupOutcome setupOutcome) {
	}

	/**
	 * What one step did.
	 * @param next the connection afterwards (equal to the one before when nothing changed)
	 * @param notes audit lines, in order
	 * @param setup the setup time, when this step measured it (the first handshake was just seen)
	 * @param established this step judged the setup established (first handshake within 60 s)
	 * @param notEstablished this step judged the setup not established
	 * @param dropped this step turned a connected peer lost
	 */
	record Change(Connection next, List<SessionRules.Note> notes, Optional<Duration> setup, boolean established,
			boolean notEstablished, boolean dropped) {

		static Change none(Connection connection) {
			return new Change(connection, List.of(), Optional.empty(), false, false, false);
		}

		boolean changesRow(Connection before) {
			return !next.equals(before);
		}

	}

	/** The session's peer is (again) on the interface: a connection with no state yet waits. */
	static Change peerLive(Connection c) {
		if (c.state() != null) {
			return Change.none(c);
		}
		return Change.none(with(c, State.WAITING, c.connectedSince(), c.connectedSeconds(), c.drops()));
	}

	/**
	 * The interface showed the peer with this latest handshake (absent: none since the peer was put
	 * there). {@code c.firstHandshakeAt()} and {@code c.lastHandshakeAt()} are as stored after this
	 * observation.
	 */
	static Change observed(Connection c, Instant now, Duration lostAfter) {
		if (c.lastHandshakeAt() == null) {
			return c.state() == null ? peerLive(c) : Change.none(c);
		}
		List<SessionRules.Note> notes = new ArrayList<>();
		Optional<Duration> measured = Optional.empty();
		boolean established = false;
		boolean notEstablished = false;
		Double setupSeconds = c.setupSeconds();
		SetupOutcome outcome = c.setupOutcome();
		if (setupSeconds == null && c.firstHandshakeAt() != null && c.setupFrom() != null) {
			// Clocks of the handshake (the device, second resolution) and of the delivery differ a little.
			Duration setup = Duration.between(c.setupFrom(), c.firstHandshakeAt());
			setup = setup.isNegative() ? Duration.ZERO : setup;
			setupSeconds = setup.toMillis() / 1000.0;
			measured = Optional.of(setup);
			if (outcome == null) {
				if (setup.compareTo(SETUP_DEADLINE) <= 0) {
					outcome = SetupOutcome.ESTABLISHED;
					established = true;
				}
				else {
					outcome = SetupOutcome.NOT_ESTABLISHED;
					notEstablished = true;
				}
			}
		}
		boolean fresh = !c.lastHandshakeAt().plus(lostAfter).isBefore(now);
		State state = c.state();
		Instant connectedSince = c.connectedSince();
		double connectedSeconds = c.connectedSeconds();
		int drops = c.drops();
		boolean dropped = false;
		if (fresh && state != State.CONNECTED) {
			if (state == State.LOST) {
				notes.add(new SessionRules.Note(AuditKind.CONNECTION_RESTORED, "handshake at " + c.lastHandshakeAt()));
			}
			state = State.CONNECTED;
			connectedSince = c.lastHandshakeAt().isAfter(now) ? now : c.lastHandshakeAt();
		}
		else if (!fresh && state == State.CONNECTED) {
			Change aged = aged(c, now, lostAfter);
			return new Change(withSetup(aged.next(), setupSeconds, outcome), aged.notes(), measured, established,
					notEstablished, aged.dropped());
		}
		else if (!fresh && (state == null || state == State.WAITING)) {
			// A handshake already too old when first seen (the agent was down): it was connected, and is no more.
			state = State.LOST;
			drops++;
			dropped = true;
			notes.add(lostNote(c.lastHandshakeAt(), now));
		}
		Connection next = new Connection(state, c.setupFrom(), c.firstHandshakeAt(), c.lastHandshakeAt(), connectedSince,
				connectedSeconds, drops, setupSeconds, outcome);
		return new Change(next, notes, measured, established, notEstablished, dropped);
	}

	/**
	 * Time passed with nothing new from the interface: a connected peer whose latest handshake is now
	 * older than {@code lostAfter} is lost (a drop), and a setup started more than
	 * {@link #SETUP_DEADLINE} ago without a handshake is not established.
	 */
	static Change aged(Connection c, Instant now, Duration lostAfter) {
		Connection next = c;
		List<SessionRules.Note> notes = new ArrayList<>();
		boolean dropped = false;
		boolean notEstablished = false;
		if (c.state() == State.CONNECTED && c.lastHandshakeAt() != null && c.lastHandshakeAt().plus(lostAfter).isBefore(now)) {
			double stretch = c.connectedSince() == null ? 0
					: Math.max(0, Duration.between(c.connectedSince(), now).toMillis() / 1000.0);
			next = with(next, State.LOST, null, c.connectedSeconds() + stretch, c.drops() + 1);
			notes.add(lostNote(c.lastHandshakeAt(), now));
			dropped = true;
		}
		if (c.setupOutcome() == null && c.firstHandshakeAt() == null && c.setupFrom() != null
				&& !c.setupFrom().plus(SETUP_DEADLINE).isAfter(now)) {
			next = withSetup(next, next.setupSeconds(), SetupOutcome.NOT_ESTABLISHED);
			notEstablished = true;
		}
		return new Change(next, notes, Optional.empty(), false, notEstablished, dropped);
	}

	/**
	 * The peer left the interface because the session is over (or its key changed): the connected
	 * stretch closes and the state is cleared, since there is no live peer left to judge.
	 */
	static Change peerGone(Connection c, Instant now) {
		if (c.state() == null) {
			return Change.none(c);
		}
		double stretch = c.state() == State.CONNECTED && c.connectedSince() != null
				? Math.max(0, Duration.between(c.connectedSince(), now).toMillis() / 1000.0) : 0;
		return Change.none(with(c, null, null, c.connectedSeconds() + stretch, c.drops()));
	}

	private static SessionRules.Note lostNote(Instant lastHandshake, Instant now) {
		return new SessionRules.Note(AuditKind.CONNECTION_LOST,
				"latest handshake " + Math.max(0, Duration.between(lastHandshake, now).toSeconds()) + " s ago");
	}

	private static Connection with(Connection c, State state, Instant connectedSince, double connectedSeconds, int drops) {
		return new Connection(state, c.setupFrom(), c.firstHandshakeAt(), c.lastHandshakeAt(), connectedSince,
				connectedSeconds, drops, c.setupSeconds(), c.setupOutcome());
	}

	private static Connection withSetup(Connection c, Double setupSeconds, SetupOutcome outcome) {
		return new Connection(c.state(), c.setupFrom(), c.firstHandshakeAt(), c.lastHandshakeAt(), c.connectedSince(),
				c.connectedSeconds(), c.drops(), setupSeconds, outcome);
	}

}
