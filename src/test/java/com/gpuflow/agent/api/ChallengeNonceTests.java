package com.gpuflow.agent.api;

import java.math.BigInteger;
import java.time.Instant;
import java.util.HashSet;
import java.util.Set;

import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatIllegalArgumentException;

class ChallengeNonceTests {

	static final String HOST = "0x" + "11".repeat(32);

	static final RentalId RENTAL = new RentalId(BigInteger.valueOf(7));

	static final String RENTER = "0x" + "ab".repeat(20);

	static final Instant ISSUED = Instant.parse("2026-12-03T10:00:00Z");

	final ChallengeNonce nonces = new ChallengeNonce(new byte[32]);

	@Test
	void aNonceIsAlphanumericLongEnoughForEip4361AndCarriesItsPurposeAndTime() {
		String nonce = nonces.issue(HOST, RENTAL, RENTER, Purpose.REKEY, ISSUED);
		assertThat(nonce).matches("[0-9a-f]{63}").hasSize(ChallengeNonce.LENGTH);
		ChallengeNonce.Claims claims = ChallengeNonce.claims(nonce).orElseThrow();
		assertThat(claims.purpose()).isEqualTo(Purpose.REKEY);
		assertThat(claims.issuedAt()).isEqualTo(ISSUED);
		assertThat(nonces.authentic(claims, HOST, RENTAL, RENTER)).isTrue();
	}

	@Test
	void everyNonceIsDifferent() {
		Set<String> seen = new HashSet<>();
		for (int i = 0; i < 10_000; i++) {
			assertThat(seen.add(nonces.issue(HOST, RENTAL, RENTER, Purpose.CONFIG, ISSUED))).isTrue();
		}
	}

	@Test
	void theRenterAddressIsComparedWithoutRegardToCase() {
		String nonce = nonces.issue(HOST, RENTAL, RENTER.toUpperCase().replace("0X", "0x"), Purpose.CONFIG, ISSUED);
		assertThat(nonces.authentic(ChallengeNonce.claims(nonce).orElseThrow(), HOST, RENTAL, RENTER)).isTrue();
	}

	@Nested
	class ANonceIsNotAuthenticFor {

		final String nonce = nonces.issue(HOST, RENTAL, RENTER, Purpose.CONFIG, ISSUED);

		final ChallengeNonce.Claims claims = ChallengeNonce.claims(nonce).orElseThrow();

		@Test
		void anotherRentalRenterOrHost() {
			assertThat(nonces.authentic(claims, HOST, new RentalId(BigInteger.valueOf(8)), RENTER)).isFalse();
			assertThat(nonces.authentic(claims, HOST, RENTAL, "0x" + "cd".repeat(20))).isFalse();
			assertThat(nonces.authentic(claims, "0x" + "12".repeat(32), RENTAL, RENTER)).isFalse();
		}

		@Test
		void anotherPurposeOrTimeWrittenIntoIt() {
			String asRekey = Purpose.REKEY.code() + nonce.substring(1);
			assertThat(nonces.authentic(ChallengeNonce.claims(asRekey).orElseThrow(), HOST, RENTAL, RENTER)).isFalse();
			String later = nonce.charAt(0) + String.format("%010x", ISSUED.getEpochSecond() + 600) + nonce.substring(11);
			assertThat(nonces.authentic(ChallengeNonce.claims(later).orElseThrow(), HOST, RENTAL, RENTER)).isFalse();
		}

		@Test
		void anotherAgentsKey() {
			byte[] other = new byte[32];
			other[0] = 1;
			assertThat(new ChallengeNonce(other).authentic(claims, HOST, RENTAL, RENTER)).isFalse();
		}

		@Test
		void aChangedMacOrRandomPart() {
			char last = nonce.charAt(nonce.length() - 1);
			String edited = nonce.substring(0, nonce.length() - 1) + (last == '0' ? '1' : '0');
			assertThat(nonces.authentic(ChallengeNonce.claims(edited).orElseThrow(), HOST, RENTAL, RENTER)).isFalse();
			char r = nonce.charAt(15);
			String random = nonce.substring(0, 15) + (r == '0' ? '1' : '0') + nonce.substring(16);
			assertThat(nonces.authentic(ChallengeNonce.claims(random).orElseThrow(), HOST, RENTAL, RENTER)).isFalse();
		}

	}

	@Test
	void textsNotShapedLikeANonceClaimNothing() {
		assertThat(ChallengeNonce.claims(null)).isEmpty();
		assertThat(ChallengeNonce.claims("AAAAAAAAAAAAAAAAAAAAAAAA")).isEmpty();
		assertThat(ChallengeNonce.claims("9" + "0".repeat(62))).as("no purpose 9").isEmpty();
		assertThat(ChallengeNonce.claims("0" + "G".repeat(62))).isEmpty();
		assertThat(ChallengeNonce.claims("0".repeat(64))).isEmpty();
	}

	@Test
	void aShortKeyIsRefused() {
		assertThatIllegalArgumentException().isThrownBy(() -> new ChallengeNonce(new byte[16]));
	}

}
