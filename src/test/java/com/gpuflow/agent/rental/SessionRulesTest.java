package com.gpuflow.agent.rental;

import java.math.BigInteger;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.HexFormat;
import java.util.Optional;
import java.util.Set;

import com.gpuflow.agent.audit.AuditKind;
import com.gpuflow.agent.keys.RenterKeyVault;
import com.gpuflow.agent.keys.WireGuardKeys;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** The session rules one transition at a time: what the session becomes and what the trail says. */
class SessionRulesTest {

	static final Instant NOW = Instant.parse("2026-12-03T12:00:00Z");

	static final Instant START = NOW.minus(Duration.ofMinutes(10));

	static final Instant END = NOW.plus(Duration.ofHours(1));

	static final String RENTER_KEY = WireGuardKeys.generate().publicKey();

	static final String SERVER_KEY = WireGuardKeys.generate().publicKey();

	static final SessionRules.KeyContext NOTHING_TAKEN = new SessionRules.KeyContext(null, true, key -> false);

	static RentalEvent.Created created(Instant endsAt, byte[] renterKey) {
		return new RentalEvent.Created(BigInteger.valueOf(7), "0x" + "a1".repeat(32), "0xrenter", START, endsAt, renterKey);
	}

	static byte[] raw(String base64Key) {
		return Base64.getDecoder().decode(base64Key);
	}

	static Session active() {
		return new Session(1, BigInteger.valueOf(7), "0xrenter", SessionState.ACTIVE, START, END, null, null, "RENTER",
				RENTER_KEY, false, null, "10.77.0.2", false, null);
	}

	static Session generatedUndelivered() {
		return new Session(1, BigInteger.valueOf(7), "0xrenter", SessionState.ACTIVE, START, END, null, null, "GENERATED",
				RENTER_KEY, true, null, "10.77.0.2", false, null);
	}

	static Session in(SessionState state, Instant endsAt, Instant endedAt, String reason) {
		return active().with(state, endsAt, endedAt, reason);
	}

	static AuditKind[] kinds(SessionRules.Transition transition) {
		return transition.notes().stream().map(SessionRules.Note::kind).toArray(AuditKind[]::new);
	}

	@Nested
	class Created {

		@Test
		void anActiveRentalWithTheRentersOwnKeyIsActiveWithThatKeyAndNeedsAnAddress() {
			SessionRules.NewSession session = SessionRules.created(1, 11, created(END, raw(RENTER_KEY)), "block 5", NOW,
					NOTHING_TAKEN);
			assertThat(session.state()).isEqualTo(SessionState.ACTIVE);
			assertThat(session.keySource()).isEqualTo("RENTER");
			assertThat(session.publicKey()).isEqualTo(RENTER_KEY);
			assertThat(session.sealedPrivateKey()).isNull();
			assertThat(session.needsAddress()).isTrue();
			assertThat(session.keyRejected()).isNull();
			assertThat(session.notes()).extracting(SessionRules.Note::kind)
				.containsExactly(AuditKind.CREATED, AuditKind.CONFIRMED);
			assertThat(session.notes().get(0).detail()).isEqualTo("block 5 renter 0xrenter ends " + END);
		}

		@Test
		void aRentalAlreadyOverWhenConfirmedIsExpiredAndTakesNoAddress() {
			SessionRules.NewSession session = SessionRules.created(1, 11, created(NOW, raw(RENTER_KEY)), "block 5", NOW,
					NOTHING_TAKEN);
			assertThat(session.state()).isEqualTo(SessionState.EXPIRED);
			assertThat(session.needsAddress()).isFalse();
			assertThat(session.notes()).extracting(SessionRules.Note::kind)
				.containsExactly(AuditKind.CREATED, AuditKind.CONFIRMED, AuditKind.EXPIRED);
		}

		@Test
		void aRenterKeyOfSmallOrderGetsNoPeerAndTheTrailSaysWhy() {
			byte[] lowOrder = HexFormat.of().parseHex("01" + "00".repeat(31));
			SessionRules.NewSession session = SessionRules.created(1, 11, created(END, lowOrder), "block 5", NOW,
					NOTHING_TAKEN);
			assertThat(session.publicKey()).isNull();
			assertThat(session.keyRejected()).isNull();
			assertThat(session.notes().get(0).detail()).contains("renter key rejected");
		}

		@Test
		void theServersOwnKeyOrALiveSessionsKeyIsRejectedButTheSessionKeepsItsAddressForARekey() {
			SessionRules.KeyContext taken = new SessionRules.KeyContext(null, true, Set.of(SERVER_KEY)::contains);
			SessionRules.NewSession session = SessionRules.created(1, 11, created(END, raw(SERVER_KEY)), "block 5", NOW,
					taken);
			assertThat(session.state()).isEqualTo(SessionState.ACTIVE);
			assertThat(session.publicKey()).isNull();
			assertThat(session.keyRejected()).isNotBlank();
			assertThat(session.needsAddress()).isTrue();
			assertThat(session.notes()).extracting(SessionRules.Note::kind)
				.containsExactly(AuditKind.CREATED, AuditKind.CONFIRMED, AuditKind.KEY_REJECTED);
		}

		@Test
		void aTakenKeyOnARentalAlreadyOverIsNotRejectedSinceItNeverGetsAPeer() {
			SessionRules.KeyContext taken = new SessionRules.KeyContext(null, true, Set.of(RENTER_KEY)::contains);
			SessionRules.NewSession session = SessionRules.created(1, 11, created(NOW, raw(RENTER_KEY)), "block 5", NOW,
					taken);
			assertThat(session.keyRejected()).isNull();
			assertThat(session.state()).isEqualTo(SessionState.EXPIRED);
		}

		@Test
		void aGeneratedKeyIsStoredSealedUntilDelivery() {
			RenterKeyVault.SealedPair pair = new RenterKeyVault.SealedPair(RENTER_KEY, new byte[] { 1, 2, 3 });
			SessionRules.NewSession session = SessionRules.created(1, 11, created(END, new byte[32]), "block 5", NOW,
					new SessionRules.KeyContext(pair, true, key -> false));
			assertThat(session.keySource()).isEqualTo("GENERATED");
			assertThat(session.publicKey()).isEqualTo(RENTER_KEY);
			assertThat(session.sealedPrivateKey()).containsExactly(1, 2, 3);
		}

		@Test
		void withoutAKeyEncryptionKeyNoKeyIsGeneratedAndTheTrailSaysSo() {
			SessionRules.NewSession session = SessionRules.created(1, 11, created(END, new byte[32]), "block 5", NOW,
					new SessionRules.KeyContext(null, false, key -> false));
			assertThat(session.publicKey()).isNull();
			assertThat(session.sealedPrivateKey()).isNull();
			assertThat(session.notes().get(0).detail()).contains("GPUFLOW_KEY_ENCRYPTION_KEY is not set");
		}

	}

	@Nested
	class Extended {

		@Test
		void aLaterEndMovesTheEndAndKeepsEverythingElse() {
			Instant later = END.plus(Duration.ofHours(1));
			SessionRules.Transition t = SessionRules.extended(active(), later, NOW);
			assertThat(t.next()).isEqualTo(in(SessionState.ACTIVE, later, null, null));
			assertThat(kinds(t)).containsExactly(AuditKind.EXTENDED);
			assertThat(t.releasesAddress() || t.needsAddress() || t.destroysSealedKey()).isFalse();
		}

		@Test
		void anEndThatIsNotLaterChangesNothing() {
			SessionRules.Transition t = SessionRules.extended(active(), END, NOW);
			assertThat(t.changesRow(active())).isFalse();
			assertThat(t.notes()).isEmpty();
			assertThat(t.peersMayChange()).isFalse();
		}

		@Test
		void anExtensionConfirmedAfterLocalExpiryMakesTheSessionActiveAgainWithAFreshAddress() {
			Session expired = in(SessionState.EXPIRED, NOW.minusSeconds(5), NOW.minusSeconds(5), "expired");
			SessionRules.Transition t = SessionRules.extended(expired, END, NOW);
			assertThat(t.next().state()).isEqualTo(SessionState.ACTIVE);
			assertThat(t.next().endsAt()).isEqualTo(END);
			assertThat(t.next().endedAt()).isNull();
			assertThat(t.next().endReason()).isNull();
			assertThat(t.next().tunnelIp()).isNull();
			assertThat(t.needsAddress()).isTrue();
			assertThat(kinds(t)).containsExactly(AuditKind.EXTENDED);
		}

		@Test
		void anExtensionAfterLocalExpiryThatIsItselfOverOnlyMovesTheEnd() {
			Session expired = in(SessionState.EXPIRED, NOW.minusSeconds(60), NOW.minusSeconds(60), "expired");
			SessionRules.Transition t = SessionRules.extended(expired, NOW.minusSeconds(5), NOW);
			assertThat(t.next().state()).isEqualTo(SessionState.EXPIRED);
			assertThat(t.next().endsAt()).isEqualTo(NOW.minusSeconds(5));
			assertThat(t.needsAddress()).isFalse();
		}

		@Test
		void anExtensionOfAnEndedRentalDoesNotReopenIt() {
			Session ended = in(SessionState.ENDED, END, NOW.minusSeconds(5), "ended");
			SessionRules.Transition t = SessionRules.extended(ended, END.plusSeconds(60), NOW);
			assertThat(t.next().state()).isEqualTo(SessionState.ENDED);
			assertThat(t.needsAddress()).isFalse();
		}

	}

	@Nested
	class Ended {

		@Test
		void anActiveSessionEndsNowAndReleasesItsAddress() {
			SessionRules.Transition t = SessionRules.ended(active(), NOW.minusSeconds(2), NOW);
			assertThat(t.next()).isEqualTo(in(SessionState.ENDED, END, NOW, "ended"));
			assertThat(t.releasesAddress()).isTrue();
			assertThat(t.destroysSealedKey()).isFalse();
			assertThat(kinds(t)).containsExactly(AuditKind.ENDED);
			assertThat(t.peersMayChange()).isTrue();
		}

		@Test
		void anUndeliveredGeneratedKeyIsDestroyedBeforeTheEndIsWritten() {
			SessionRules.Transition t = SessionRules.ended(generatedUndelivered(), NOW, NOW);
			assertThat(t.destroysSealedKey()).isTrue();
			assertThat(kinds(t)).containsExactly(AuditKind.KEY_DESTROYED, AuditKind.ENDED);
		}

		@Test
		void anEndInTheSameRangeAsItsCreationClosesTheNewSession() {
			SessionRules.NewSession born = SessionRules.created(1, 11, created(END, raw(RENTER_KEY)), "block 5", NOW,
					NOTHING_TAKEN);
			Session stored = new Session(born.id(), born.event().rentalId(), born.event().renter(), born.state(), START,
					END, null, null, born.keySource(), born.publicKey(), false, null, "10.77.0.2", false, null);
			SessionRules.Transition t = SessionRules.ended(stored, NOW, NOW);
			assertThat(t.next().state()).isEqualTo(SessionState.ENDED);
			assertThat(t.releasesAddress()).isTrue();
		}

		@Test
		void anEndBeforeEndsAtLearnedAfterLocalExpiryMakesTheRecordFollowTheChain() {
			Session expired = in(SessionState.EXPIRED, NOW.minusSeconds(5), NOW.minusSeconds(5), "expired");
			SessionRules.Transition t = SessionRules.ended(expired, NOW.minusSeconds(30), NOW);
			assertThat(t.next().state()).isEqualTo(SessionState.ENDED);
			assertThat(t.next().endReason()).isEqualTo("ended");
			assertThat(t.next().endedAt()).isEqualTo(NOW.minusSeconds(5));
			assertThat(t.releasesAddress()).as("the address was released at expiry").isFalse();
			assertThat(t.notes().get(0).detail()).contains("learned after local expiry");
		}

		@Test
		void anEndOfASessionAlreadyOverIsOnlyNoted() {
			Session expired = in(SessionState.EXPIRED, NOW.minusSeconds(60), NOW.minusSeconds(60), "expired");
			SessionRules.Transition t = SessionRules.ended(expired, NOW.minusSeconds(5), NOW);
			assertThat(t.changesRow(expired)).isFalse();
			assertThat(t.notes()).singleElement().satisfies(note -> {
				assertThat(note.kind()).isEqualTo(AuditKind.ENDED);
				assertThat(note.detail()).endsWith("already expired");
			});
			assertThat(t.peersMayChange()).isFalse();
		}

	}

	@Nested
	class Due {

		@Test
		void anActiveSessionPastItsEndExpiresAtItsEnd() {
			Session due = in(SessionState.ACTIVE, NOW.minusSeconds(1), null, null);
			SessionRules.Transition t = SessionRules.due(due, NOW);
			assertThat(t.next()).isEqualTo(in(SessionState.EXPIRED, NOW.minusSeconds(1), NOW.minusSeconds(1), "expired"));
			assertThat(t.releasesAddress()).isTrue();
			assertThat(kinds(t)).containsExactly(AuditKind.EXPIRED);
		}

		@Test
		void aSessionEndingExactlyNowIsDue() {
			assertThat(SessionRules.due(in(SessionState.ACTIVE, NOW, null, null), NOW).next().state())
				.isEqualTo(SessionState.EXPIRED);
		}

		@Test
		void aSessionBeforeItsEndOrAlreadyOverIsNotDue() {
			assertThat(SessionRules.due(active(), NOW).changesRow(active())).isFalse();
			Session ended = in(SessionState.ENDED, NOW.minusSeconds(1), NOW.minusSeconds(9), "ended");
			assertThat(SessionRules.due(ended, NOW).changesRow(ended)).isFalse();
		}

	}

	@Nested
	class Orphaned {

		@Test
		void anOrphanedCreationTakesTheSessionOutAndReleasesItsAddress() {
			SessionRules.Transition t = SessionRules.createdOrphaned(generatedUndelivered(), NOW);
			assertThat(t.next().state()).isEqualTo(SessionState.REORGED_OUT);
			assertThat(t.next().endReason()).isEqualTo("reorged_out");
			assertThat(t.releasesAddress()).isTrue();
			assertThat(t.destroysSealedKey()).isTrue();
			assertThat(kinds(t)).containsExactly(AuditKind.KEY_DESTROYED, AuditKind.REORGED_OUT);
		}

		@Test
		void aSessionAlreadyReorgedOutIsLeftAlone() {
			Session gone = in(SessionState.REORGED_OUT, END, NOW, "reorged_out");
			assertThat(SessionRules.createdOrphaned(gone, NOW).notes()).isEmpty();
		}

		@Test
		void aReorgOfAnExtendedRentalPutsTheEndBackToTheLatestEventStillOnChain() {
			Session extended = in(SessionState.ACTIVE, END.plus(Duration.ofHours(2)), null, null);
			SessionRules.Transition t = SessionRules.extensionOrphaned(extended, Optional.of(END));
			assertThat(t.next().endsAt()).isEqualTo(END);
			assertThat(t.next().state()).as("a past end expires at the next settling").isEqualTo(SessionState.ACTIVE);
			assertThat(kinds(t)).containsExactly(AuditKind.REORGED_OUT);
		}

		@Test
		void anOrphanedEndWithTimeLeftReopensTheSession() {
			Session ended = in(SessionState.ENDED, END, NOW.minusSeconds(5), "ended");
			SessionRules.Transition t = SessionRules.endOrphaned(ended, NOW);
			assertThat(t.next().state()).isEqualTo(SessionState.ACTIVE);
			assertThat(t.next().endedAt()).isNull();
			assertThat(t.needsAddress()).isTrue();
		}

		@Test
		void anOrphanedEndOfARentalWhoseTimeRanOutMakesItExpiredAtItsEnd() {
			Session ended = in(SessionState.ENDED, NOW.minusSeconds(5), NOW.minusSeconds(60), "ended");
			SessionRules.Transition t = SessionRules.endOrphaned(ended, NOW);
			assertThat(t.next()).isEqualTo(in(SessionState.EXPIRED, NOW.minusSeconds(5), NOW.minusSeconds(5), "expired"));
			assertThat(t.needsAddress()).isFalse();
		}

		@Test
		void anOrphanedEndOfASessionThatIsNotEndedChangesNothing() {
			assertThat(SessionRules.endOrphaned(active(), NOW).notes()).isEmpty();
		}

	}

	@Nested
	class Rekey {

		@Test
		void aRekeyGivesAGeneratedKeyDeliveredNowAndClearsARejection() {
			Session rejected = new Session(1, BigInteger.valueOf(7), "0xrenter", SessionState.ACTIVE, START, END, null, null,
					"RENTER", null, false, null, "10.77.0.2", false, "collides");
			String fresh = WireGuardKeys.generate().publicKey();
			SessionRules.Transition t = SessionRules.rekeyed(rejected, fresh, NOW).orElseThrow();
			assertThat(t.next().keySource()).isEqualTo("GENERATED");
			assertThat(t.next().peerPublicKey()).isEqualTo(fresh);
			assertThat(t.next().configDeliveredAt()).isEqualTo(NOW);
			assertThat(t.next().keyRejected()).isNull();
			assertThat(t.next().tunnelIp()).isEqualTo("10.77.0.2");
			assertThat(kinds(t)).containsExactly(AuditKind.REKEYED, AuditKind.CONFIG_DELIVERED);
		}

		@Test
		void aRekeyBeforeTheGeneratedKeyWasDeliveredDestroysIt() {
			SessionRules.Transition t = SessionRules.rekeyed(generatedUndelivered(), RENTER_KEY, NOW).orElseThrow();
			assertThat(t.destroysSealedKey()).isTrue();
			assertThat(t.next().hasSealedKey()).isFalse();
			assertThat(kinds(t)).containsExactly(AuditKind.REKEYED, AuditKind.KEY_DESTROYED, AuditKind.CONFIG_DELIVERED);
		}

		@Test
		void anEndedOrRunOutSessionCannotBeRekeyed() {
			assertThat(SessionRules.rekeyed(in(SessionState.ENDED, END, NOW, "ended"), RENTER_KEY, NOW)).isEmpty();
			assertThat(SessionRules.rekeyed(in(SessionState.ACTIVE, NOW, null, null), RENTER_KEY, NOW)).isEmpty();
		}

	}

	@Nested
	class Delivery {

		@Test
		void onlyTheFirstDeliveryOfAnOwnKeyConfigIsRecorded() {
			assertThat(SessionRules.ownKeyDelivered(active())).extracting(SessionRules.Note::kind)
				.containsExactly(AuditKind.CONFIG_DELIVERED);
			Session delivered = new Session(1, BigInteger.valueOf(7), "0xrenter", SessionState.ACTIVE, START, END, null,
					null, "RENTER", RENTER_KEY, false, NOW.minusSeconds(9), "10.77.0.2", false, null);
			assertThat(SessionRules.ownKeyDelivered(delivered)).isEmpty();
		}

		@Test
		void servingAGeneratedKeyDestroysIt() {
			assertThat(SessionRules.generatedKeyDelivered()).extracting(SessionRules.Note::kind)
				.containsExactly(AuditKind.CONFIG_DELIVERED, AuditKind.KEY_DESTROYED);
		}

	}

}
