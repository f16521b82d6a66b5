package com.gpuflow.agent.rental;

import java.time.Duration;
import java.time.Instant;
import java.util.Optional;

import com.gpuflow.agent.audit.AuditKind;
import com.gpuflow.agent.rental.ConnectionRules.Change;
import com.gpuflow.agent.rental.ConnectionRules.Connection;
import com.gpuflow.agent.rental.ConnectionRules.SetupOutcome;
import com.gpuflow.agent.rental.ConnectionRules.State;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** The connection of one session, one step at a time: state, setup time, connected time, drops, trail, metrics. */
class ConnectionRulesTest {

	static final Instant DELIVERED = Instant.parse("2026-12-03T12:00:00Z");

	static final Duration LOST_AFTER = Duration.ofSeconds(180);

	/** A session whose config was delivered and whose peer is live, no handshake yet. */
	static Connection waiting() {
		return new Connection(State.WAITING, DELIVERED, null, null, null, 0, 0, null, null);
	}

	/** As stored after an observation showing this latest handshake (the first one if none before). */
	static Connection seen(Connection c, Instant handshake) {
		return new Connection(c.state(), c.setupFrom(), c.firstHandshakeAt() == null ? handshake : c.firstHandshakeAt(),
				handshake, c.connectedSince(), c.connectedSeconds(), c.drops(), c.setupSeconds(), c.setupOutcome());
	}

	static Change observe(Connection c, Instant handshake, Instant now) {
		return ConnectionRules.observed(seen(c, handshake), now, LOST_AFTER);
	}

	static AuditKind[] kinds(Change change) {
		return change.notes().stream().map(SessionRules.Note::kind).toArray(AuditKind[]::new);
	}

	@Nested
	class APeerGoingLive {

		@Test
		void aPeerWithNoStateYetWaitsForItsHandshake() {
			Connection none = new Connection(null, null, null, null, null, 0, 0, null, null);
			Change change = ConnectionRules.peerLive(none);
			assertThat(change.next().state()).isEqualTo(State.WAITING);
			assertThat(change.notes()).isEmpty();
		}

		@Test
		void aRestoredPeerKeepsItsStateUntilTheInterfaceSaysMore() {
			Connection lost = new Connection(State.LOST, DELIVERED, DELIVERED, DELIVERED, null, 30, 1, 1.0,
					SetupOutcome.ESTABLISHED);
			assertThat(ConnectionRules.peerLive(lost).changesRow(lost)).isFalse();
		}

		@Test
		void anObservationWithoutAHandshakeLeavesAWaitingPeerWaiting() {
			Change change = ConnectionRules.observed(waiting(), DELIVERED.plusSeconds(5), LOST_AFTER);
			assertThat(change.changesRow(waiting())).isFalse();
			assertThat(change.setup()).isEmpty();
		}

	}

	@Nested
	class TheFirstHandshake {

		@Test
		void connectsAndMeasuresTheSetupFromTheDeliveryAndCountsItEstablished() {
			Instant handshake = DELIVERED.plusMillis(4_500);
			Change change = observe(waiting(), handshake, handshake.plusSeconds(1));
			assertThat(change.next().state()).isEqualTo(State.CONNECTED);
			assertThat(change.next().connectedSince()).isEqualTo(handshake);
			assertThat(change.next().setupSeconds()).isEqualTo(4.5);
			assertThat(change.next().setupOutcome()).isEqualTo(SetupOutcome.ESTABLISHED);
			assertThat(change.setup()).contains(Duration.ofMillis(4_500));
			assertThat(change.established()).isTrue();
			assertThat(change.notEstablished()).isFalse();
			assertThat(change.notes()).as("handshake_first is written by the observation itself").isEmpty();
		}

		@Test
		void aHandshakeAfterSixtySecondsIsMeasuredButNotEstablished() {
			Instant handshake = DELIVERED.plusSeconds(75);
			Change change = observe(waiting(), handshake, handshake);
			assertThat(change.next().setupSeconds()).isEqualTo(75.0);
			assertThat(change.next().setupOutcome()).isEqualTo(SetupOutcome.NOT_ESTABLISHED);
			assertThat(change.setup()).contains(Duration.ofSeconds(75));
			assertThat(change.established()).isFalse();
			assertThat(change.notEstablished()).isTrue();
		}

		@Test
		void aSetupAlreadyJudgedNotEstablishedIsNotCountedTwice() {
			Connection overdue = ConnectionRules.aged(waiting(), DELIVERED.plusSeconds(61), LOST_AFTER).next();
			Change change = observe(overdue, DELIVERED.plusSeconds(90), DELIVERED.plusSeconds(91));
			assertThat(change.next().setupSeconds()).isEqualTo(90.0);
			assertThat(change.next().setupOutcome()).isEqualTo(SetupOutcome.NOT_ESTABLISHED);
			assertThat(change.notEstablished()).isFalse();
			assertThat(change.established()).isFalse();
			assertThat(change.setup()).as("still in the histogram").contains(Duration.ofSeconds(90));
		}

		@Test
		void aHandshakeStampedBeforeTheDeliveryCountsAsAnInstantSetup() {
			Change change = observe(waiting(), DELIVERED.minusSeconds(1), DELIVERED);
			assertThat(change.next().setupSeconds()).isZero();
		}

		@Test
		void withoutASetupStartThereIsNoSetupTime() {
			Connection undelivered = new Connection(State.WAITING, null, null, null, null, 0, 0, null, null);
			Change change = observe(undelivered, DELIVERED, DELIVERED);
			assertThat(change.next().state()).isEqualTo(State.CONNECTED);
			assertThat(change.next().setupSeconds()).isNull();
			assertThat(change.setup()).isEmpty();
		}

		@Test
		void aHandshakeTooOldWhenFirstSeenIsALostConnection() {
			Instant handshake = DELIVERED.plusSeconds(5);
			Change change = observe(waiting(), handshake, handshake.plus(LOST_AFTER).plusSeconds(1));
			assertThat(change.next().state()).isEqualTo(State.LOST);
			assertThat(change.next().drops()).isEqualTo(1);
			assertThat(change.dropped()).isTrue();
			assertThat(kinds(change)).containsExactly(AuditKind.CONNECTION_LOST);
		}

	}

	@Nested
	class AConnectedPeer {

		final Instant handshake = DELIVERED.plusSeconds(3);

		final Connection connected = observe(waiting(), handshake, handshake).next();

		@Test
		void staysConnectedWhileItsHandshakeIsRecent() {
			Change change = ConnectionRules.aged(connected, handshake.plus(LOST_AFTER), LOST_AFTER);
			assertThat(change.changesRow(connected)).isFalse();
			assertThat(change.dropped()).isFalse();
		}

		@Test
		void aNewerHandshakeKeepsItConnectedWithoutANote() {
			Change change = observe(connected, handshake.plusSeconds(120), handshake.plusSeconds(121));
			assertThat(change.next().state()).isEqualTo(State.CONNECTED);
			assertThat(change.next().connectedSince()).isEqualTo(handshake);
			assertThat(change.notes()).isEmpty();
			assertThat(change.setup()).as("measured once").isEmpty();
		}

		@Test
		void isLostOnceItsHandshakeIsOlderThanTheThresholdAndCountsADrop() {
			Instant now = handshake.plus(LOST_AFTER).plusMillis(1);
			Change change = ConnectionRules.aged(connected, now, LOST_AFTER);
			assertThat(change.next().state()).isEqualTo(State.LOST);
			assertThat(change.next().drops()).isEqualTo(1);
			assertThat(change.next().connectedSince()).isNull();
			assertThat(change.next().connectedSeconds()).isEqualTo(180.001);
			assertThat(change.dropped()).isTrue();
			assertThat(kinds(change)).containsExactly(AuditKind.CONNECTION_LOST);
			assertThat(change.notes().get(0).detail()).isEqualTo("latest handshake 180 s ago");
		}

		@Test
		void anObservationOfAnOldHandshakeAlsoTurnsItLost() {
			Change change = ConnectionRules.observed(connected, handshake.plus(LOST_AFTER).plusSeconds(2), LOST_AFTER);
			assertThat(change.next().state()).isEqualTo(State.LOST);
			assertThat(change.dropped()).isTrue();
		}

		@Test
		void aLostPeerThatHandshakesAgainIsRestoredAndStartsANewStretch() {
			Instant lostAt = handshake.plus(LOST_AFTER).plusSeconds(1);
			Connection lost = ConnectionRules.aged(connected, lostAt, LOST_AFTER).next();
			Instant again = lostAt.plusSeconds(30);
			Change change = observe(lost, again, again.plusSeconds(1));
			assertThat(change.next().state()).isEqualTo(State.CONNECTED);
			assertThat(change.next().connectedSince()).isEqualTo(again);
			assertThat(change.next().drops()).isEqualTo(1);
			assertThat(kinds(change)).containsExactly(AuditKind.CONNECTION_RESTORED);
			assertThat(change.dropped()).isFalse();
		}

		@Test
		void aLostPeerStaysLostAsTimePasses() {
			Connection lost = ConnectionRules.aged(connected, handshake.plus(LOST_AFTER).plusSeconds(1), LOST_AFTER).next();
			Change later = ConnectionRules.aged(lost, handshake.plus(Duration.ofHours(1)), LOST_AFTER);
			assertThat(later.changesRow(lost)).isFalse();
			assertThat(later.notes()).isEmpty();
		}

		@Test
		void leavingTheInterfaceClosesTheStretchAndClearsTheState() {
			Change change = ConnectionRules.peerGone(connected, handshake.plusSeconds(100));
			assertThat(change.next().state()).isNull();
			assertThat(change.next().connectedSince()).isNull();
			assertThat(change.next().connectedSeconds()).isEqualTo(100.0);
			assertThat(change.notes()).isEmpty();
			assertThat(change.dropped()).as("an ended session is not a drop").isFalse();
		}

		@Test
		void connectedTimeAddsUpOverStretches() {
			Instant lostAt = handshake.plus(LOST_AFTER).plusSeconds(20);
			Connection lost = ConnectionRules.aged(connected, lostAt, LOST_AFTER).next();
			Connection again = observe(lost, lostAt.plusSeconds(10), lostAt.plusSeconds(10)).next();
			Connection gone = ConnectionRules.peerGone(again, lostAt.plusSeconds(60)).next();
			assertThat(gone.connectedSeconds()).isEqualTo(200.0 + 50.0);
		}

	}

	@Nested
	class TimeWithoutAHandshake {

		@Test
		void aSetupWithoutAHandshakeForSixtySecondsIsNotEstablishedOnce() {
			Change change = ConnectionRules.aged(waiting(), DELIVERED.plusSeconds(60), LOST_AFTER);
			assertThat(change.next().setupOutcome()).isEqualTo(SetupOutcome.NOT_ESTABLISHED);
			assertThat(change.notEstablished()).isTrue();
			assertThat(change.next().state()).isEqualTo(State.WAITING);
			Change again = ConnectionRules.aged(change.next(), DELIVERED.plusSeconds(120), LOST_AFTER);
			assertThat(again.notEstablished()).isFalse();
			assertThat(again.changesRow(change.next())).isFalse();
		}

		@Test
		void beforeSixtySecondsNothingIsJudged() {
			Change change = ConnectionRules.aged(waiting(), DELIVERED.plusSeconds(59), LOST_AFTER);
			assertThat(change.changesRow(waiting())).isFalse();
			assertThat(change.notEstablished()).isFalse();
		}

		@Test
		void anUndeliveredConfigStartsNoSetupClock() {
			Connection undelivered = new Connection(State.WAITING, null, null, null, null, 0, 0, null, null);
			Change change = ConnectionRules.aged(undelivered, DELIVERED.plus(Duration.ofDays(1)), LOST_AFTER);
			assertThat(change.notEstablished()).isFalse();
			assertThat(change.next().setupOutcome()).isNull();
		}

		@Test
		void aPeerThatLeavesWithoutStateChangesNothing() {
			Connection none = new Connection(null, null, null, null, null, 0, 0, null, null);
			assertThat(ConnectionRules.peerGone(none, DELIVERED).changesRow(none)).isFalse();
		}

	}

	@Test
	void stateCodesAreTheSpecWords() {
		assertThat(State.WAITING.code()).isEqualTo("waiting");
		assertThat(State.of("connected")).isEqualTo(State.CONNECTED);
		assertThat(State.of(null)).isNull();
		assertThat(SetupOutcome.of("not_established")).isEqualTo(SetupOutcome.NOT_ESTABLISHED);
		assertThat(Optional.ofNullable(SetupOutcome.of(null))).isEmpty();
	}

}
