package com.gpuflow.agent.keys;

import java.security.SecureRandom;
import java.util.Arrays;
import java.util.Base64;
import java.util.Set;

import org.bouncycastle.math.ec.rfc7748.X25519;

/**
 * X25519 key pairs in WireGuard's format (32 raw bytes, base64), with Bouncy Castle's RFC 7748 code.
 */
public final class WireGuardKeys {

	public record KeyPairText(String privateKey, String publicKey) {

		@Override
		public String toString() {
			return "KeyPairText[publicKey=" + publicKey + "]";
		}

	}

	// Points of small order on Curve25519 (and their non-canonical encodings): a peer key among
	// them would make every shared secret predictable. List from the libsodium/cr.yp.to blocklist.
	private static final Set<String> LOW_ORDER_POINTS = Set.of(
			"0000000000000000000000000000000000000000000000000000000000000000",
			"0100000000000000000000000000000000000000000000000000000000000000",
			"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
			"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
			"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
			"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
			"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");

	private static final SecureRandom RANDOM = new SecureRandom();

	private WireGuardKeys() {
	}

	public static KeyPairText generate() {
		byte[] privateKey = new byte[X25519.SCALAR_SIZE];
		byte[] publicKey = new byte[X25519.POINT_SIZE];
		// Bouncy Castle (already here through web3j): about 40 us a pair, the JDK's XDH about 150 us,
		// which showed in a 20,000-rental backfill.
		X25519.generatePrivateKey(RANDOM, privateKey);
		X25519.generatePublicKey(privateKey, 0, publicKey, 0);
		KeyPairText pair = new KeyPairText(base64(privateKey), base64(publicKey));
		Arrays.fill(privateKey, (byte) 0);
		return pair;
	}

	/** The public key of a base64 private key, as {@code wg pubkey} computes it. */
	public static String publicKeyOf(String privateKeyBase64) {
		return publicKeyOf(decode32(privateKeyBase64));
	}

	/** The public key of a raw 32-byte private key, in base64; the private key is zeroed afterwards. */
	public static String publicKeyOf(byte[] privateKey) {
		try {
			byte[] publicKey = new byte[X25519.POINT_SIZE];
			X25519.generatePublicKey(privateKey, 0, publicKey, 0);
			return base64(publicKey);
		}
		finally {
			Arrays.fill(privateKey, (byte) 0);
		}
	}

	/**
	 * Checks a renter's own public key from the chain: 32 bytes, not all zero, not a point of
	 * small order.
	 * @return the key in WireGuard's base64 form
	 * @throws IllegalArgumentException naming what is wrong
	 */
	public static String validatePublicKey(byte[] raw) {
		if (raw == null || raw.length != 32) {
			throw new IllegalArgumentException("a WireGuard public key has 32 bytes");
		}
		String hex = java.util.HexFormat.of().formatHex(raw);
		if (LOW_ORDER_POINTS.contains(hex)) {
			throw new IllegalArgumentException("the public key is zero or a point of small order");
		}
		// Non-canonical encodings of the low-order points differ only in the top bit, which X25519 ignores.
		byte[] masked = raw.clone();
		masked[31] &= 0x7f;
		if (LOW_ORDER_POINTS.contains(java.util.HexFormat.of().formatHex(masked))) {
			throw new IllegalArgumentException("the public key is a point of small order");
		}
		return base64(raw);
	}

	public static byte[] decode32(String base64) {
		byte[] raw;
		try {
			raw = Base64.getDecoder().decode(base64.trim());
		}
		catch (IllegalArgumentException e) {
			throw new IllegalArgumentException("not base64");
		}
		if (raw.length != 32) {
			throw new IllegalArgumentException("a WireGuard key has 32 bytes, this has " + raw.length);
		}
		return raw;
	}

	private static String base64(byte[] raw) {
		return Base64.getEncoder().encodeToString(raw);
	}

}
