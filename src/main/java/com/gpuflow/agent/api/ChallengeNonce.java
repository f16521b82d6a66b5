package com.gpuflow.agent.api;

import java.nio.charset.StandardCharsets;
import java.security.InvalidKeyException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.time.Instant;
import java.util.HexFormat;
import java.util.Locale;
import java.util.Optional;
import java.util.regex.Pattern;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * Stateless sign-in nonces: a nonce carries its purpose, its issue time and a random part, and a
 * MAC over those and over the host, rental and renter it was issued for. Issuing one stores
 * nothing, so asking for challenges in a loop costs the agent no memory and no database work, and
 * never invalidates a challenge another client holds; the agent still knows every nonce it issued
 * by checking the MAC. Only a spent nonce is stored (elsewhere), until it expires.
 *
 * <p>Layout, lowercase hex after the purpose digit: purpose (1) | issued-at unix seconds (10) |
 * random (20, 80 bits) | HMAC-SHA256 truncated to 128 bits (32). 63 alphanumerics, as EIP-4361
 * asks (8 or more). Pure: no I/O, no clock.
 */
final class ChallengeNonce {

	static final int LENGTH = 63;

	private static final Pattern SHAPE = Pattern.compile("[0-9][0-9a-f]{62}");

	private static final SecureRandom RANDOM = new SecureRandom();

	private static final HexFormat HEX = HexFormat.of();

	/** What a nonce claims about itself; trustworthy only after {@link #authentic}. */
	record Claims(Purpose purpose, Instant issuedAt, String random, String mac) {
	}

	private final SecretKeySpec key;

	ChallengeNonce(byte[] key) {
		if (key.length < 32) {
			throw new IllegalArgumentException("the challenge key has fewer than 32 bytes");
		}
		this.key = new SecretKeySpec(key.clone(), "HmacSHA256");
	}

	String issue(String hostId, RentalId rentalId, String renter, Purpose purpose, Instant issuedAt) {
		byte[] random = new byte[10];
		RANDOM.nextBytes(random);
		String randomHex = HEX.formatHex(random);
		return prefix(purpose, issuedAt) + randomHex + mac(hostId, rentalId, renter, purpose, issuedAt.getEpochSecond(), randomHex);
	}

	/** The claims of a text shaped like a nonce of this class, authentic or not. */
	static Optional<Claims> claims(String nonce) {
		if (nonce == null || nonce.length() != LENGTH || !SHAPE.matcher(nonce).matches()) {
			return Optional.empty();
		}
		Optional<Purpose> purpose = Purpose.ofCode(nonce.charAt(0));
		if (purpose.isEmpty()) {
			return Optional.empty();
		}
		long seconds = Long.parseLong(nonce.substring(1, 11), 16);
		return Optional.of(new Claims(purpose.get(), Instant.ofEpochSecond(seconds), nonce.substring(11, 31),
				nonce.substring(31)));
	}

	/** Whether this agent issued {@code claims} for exactly this host, rental and renter. */
	boolean authentic(Claims claims, String hostId, RentalId rentalId, String renter) {
		String expected = mac(hostId, rentalId, renter, claims.purpose(), claims.issuedAt().getEpochSecond(),
				claims.random());
		return MessageDigest.isEqual(expected.getBytes(StandardCharsets.US_ASCII),
				claims.mac().getBytes(StandardCharsets.US_ASCII));
	}

	private static String prefix(Purpose purpose, Instant issuedAt) {
		return purpose.code() + String.format(Locale.ROOT, "%010x", issuedAt.getEpochSecond());
	}

	private String mac(String hostId, RentalId rentalId, String renter, Purpose purpose, long issuedAtSeconds,
			String random) {
		// Fields joined with a separator none of them can contain, so no two field lists MAC alike.
		String input = String.join("\n", "gpuflow-challenge-v1", hostId.toLowerCase(Locale.ROOT), rentalId.toString(),
				renter.toLowerCase(Locale.ROOT), purpose.wire(), Long.toString(issuedAtSeconds), random);
		try {
			Mac mac = Mac.getInstance("HmacSHA256");
			mac.init(key);
			byte[] full = mac.doFinal(input.getBytes(StandardCharsets.UTF_8));
			return HEX.formatHex(full, 0, 16);
		}
		catch (NoSuchAlgorithmException | InvalidKeyException e) {
			throw new IllegalStateException("HmacSHA256 is part of every JDK", e);
		}
	}

}
