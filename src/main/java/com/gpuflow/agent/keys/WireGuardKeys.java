package com.gpuflow.agent.keys;

import java.math.BigInteger;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.interfaces.XECPrivateKey;
import java.security.interfaces.XECPublicKey;
import java.security.spec.NamedParameterSpec;
import java.security.spec.XECPrivateKeySpec;
import java.util.Arrays;
import java.util.Base64;
import java.util.Set;

/**
 * X25519 key pairs in WireGuard's format (32 raw bytes, base64), on the JDK's own XDH provider.
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

	private WireGuardKeys() {
	}

	public static KeyPairText generate() {
		try {
			KeyPair pair = KeyPairGenerator.getInstance("X25519").generateKeyPair();
			byte[] privateKey = ((XECPrivateKey) pair.getPrivate()).getScalar().orElseThrow();
			byte[] publicKey = encodeU(((XECPublicKey) pair.getPublic()).getU());
			return new KeyPairText(base64(privateKey), base64(publicKey));
		}
		catch (GeneralSecurityException e) {
			throw new IllegalStateException("X25519 is not available in this JDK", e);
		}
	}

	/** The public key of a base64 private key, as {@code wg pubkey} computes it. */
	public static String publicKeyOf(String privateKeyBase64) {
		byte[] scalar = decode32(privateKeyBase64);
		try {
			KeyFactory factory = KeyFactory.getInstance("X25519");
			XECPrivateKey privateKey = (XECPrivateKey) factory
				.generatePrivate(new XECPrivateKeySpec(NamedParameterSpec.X25519, scalar));
			// The JDK has no direct "derive public"; a key agreement with the base point gives it.
			javax.crypto.KeyAgreement agreement = javax.crypto.KeyAgreement.getInstance("X25519");
			agreement.init(privateKey);
			byte[] basePoint = new byte[32];
			basePoint[0] = 9;
			agreement.doPhase(factory.generatePublic(new java.security.spec.XECPublicKeySpec(NamedParameterSpec.X25519,
					new BigInteger(1, reverse(basePoint)))), true);
			return base64(agreement.generateSecret());
		}
		catch (GeneralSecurityException e) {
			throw new IllegalArgumentException("not an X25519 private key", e);
		}
		finally {
			Arrays.fill(scalar, (byte) 0);
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

	// RFC 7748 encodes u little-endian; BigInteger is big-endian.
	private static byte[] encodeU(BigInteger u) {
		byte[] bigEndian = u.toByteArray();
		byte[] out = new byte[32];
		for (int i = 0; i < 32 && i < bigEndian.length; i++) {
			out[i] = bigEndian[bigEndian.length - 1 - i];
		}
		return out;
	}

	private static byte[] reverse(byte[] in) {
		byte[] out = new byte[in.length];
		for (int i = 0; i < in.length; i++) {
			out[i] = in[in.length - 1 - i];
		}
		return out;
	}

}
