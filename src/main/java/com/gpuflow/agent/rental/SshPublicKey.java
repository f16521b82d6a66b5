package com.gpuflow.agent.rental;

import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.Base64;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;

import org.bouncycastle.asn1.x9.ECNamedCurveTable;
import org.bouncycastle.asn1.x9.X9ECParameters;
import org.bouncycastle.math.ec.rfc8032.Ed25519;

/**
 * One OpenSSH public key a renter gave, parsed from its wire format and checked. Pure: no I/O.
 * Only the type and the key blob are kept; the renter's comment is dropped, because the agent writes
 * these keys into sshd's {@code authorized_keys} answer and nothing a renter typed may reach that
 * text except the re-encoded key itself (a newline or an option there would grant more than a key).
 *
 * @param type the key type, equal to the one inside the blob
 * @param blob the wire-format key as sshd reads it
 */
public record SshPublicKey(String type, byte[] blob) {

	/** The most keys one session may hold. */
	public static final int MAX_KEYS = 8;

	static final int MIN_RSA_BITS = 3072;

	static final int MAX_RSA_BITS = 16384;

	// The blob of a 16384-bit RSA key is about 2 KiB; nothing valid is longer.
	private static final int MAX_BASE64 = 4096;

	private static final int MAX_APPLICATION = 256;

	private static final Pattern BASE64 = Pattern.compile("[A-Za-z0-9+/]+={0,2}");

	// A comment is free text, but no control characters (a newline would start another line).
	private static final Pattern COMMENT = Pattern.compile("[^\\p{Cntrl}]*");

	/** The key types accepted, with the curve of each ECDSA type (null for others). */
	private static final Map<String, String> TYPES = Map.of("ssh-ed25519", "", "sk-ssh-ed25519@openssh.com", "",
			"ecdsa-sha2-nistp256", "nistp256", "ecdsa-sha2-nistp384", "nistp384", "ecdsa-sha2-nistp521", "nistp521",
			"sk-ecdsa-sha2-nistp256@openssh.com", "nistp256", "ssh-rsa", "");

	private static final Map<String, String> CURVES = Map.of("nistp256", "P-256", "nistp384", "P-384", "nistp521",
			"P-521");

	/**
	 * Parses {@code type base64 [comment]}.
	 * @throws IllegalArgumentException with a message fit to show the renter
	 */
	public static SshPublicKey parse(String line) {
		if (line == null) {
			throw new IllegalArgumentException("is not a string");
		}
		String trimmed = line.strip();
		if (trimmed.isEmpty()) {
			throw new IllegalArgumentException("is empty");
		}
		String[] parts = trimmed.split("[ \\t]+", 3);
		String type = parts[0];
		if (!TYPES.containsKey(type)) {
			if (type.contains("=") || type.contains(",") || type.contains("\"") || knownOption(type)) {
				throw new IllegalArgumentException("starts with options ('" + printable(type)
						+ "'); give only 'type base64 [comment]': the agent sets the options itself");
			}
			throw new IllegalArgumentException("has type '" + printable(type)
					+ "'; accepted: ssh-ed25519, ecdsa-sha2-nistp256/384/521, sk-ssh-ed25519@openssh.com,"
					+ " sk-ecdsa-sha2-nistp256@openssh.com, ssh-rsa (3072 bits or more)");
		}
		if (parts.length < 2) {
			throw new IllegalArgumentException("has no key data after '" + type + "'");
		}
		if (parts.length == 3 && !COMMENT.matcher(parts[2]).matches()) {
			throw new IllegalArgumentException("has control characters in its comment");
		}
		String base64 = parts[1];
		if (base64.length() > MAX_BASE64 || !BASE64.matcher(base64).matches() || base64.length() % 4 != 0) {
			throw new IllegalArgumentException("key data is not base64 of a public key");
		}
		byte[] blob;
		try {
			blob = Base64.getDecoder().decode(base64);
		}
		catch (IllegalArgumentException e) {
			throw new IllegalArgumentException("key data is not base64 of a public key");
		}
		check(type, blob);
		return new SshPublicKey(type, blob);
	}

	private static void check(String type, byte[] blob) {
		Wire in = new Wire(blob);
		String inner = in.text("key type");
		if (!inner.equals(type)) {
			throw new IllegalArgumentException("says '" + type + "' but its key data is of type '" + printable(inner) + "'");
		}
		switch (type) {
			case "ssh-ed25519" -> ed25519(in);
			case "sk-ssh-ed25519@openssh.com" -> {
				ed25519(in);
				application(in);
			}
			case "ssh-rsa" -> rsa(in);
			default -> {
				ecdsa(in, TYPES.get(type));
				if (type.startsWith("sk-")) {
					application(in);
				}
			}
		}
		if (in.remaining() != 0) {
			throw new IllegalArgumentException("has " + in.remaining() + " bytes after the key");
		}
	}

	private static void ed25519(Wire in) {
		byte[] point = in.fixed("ed25519 key", 32);
		// A point off the curve or of small order (all zeros, for one) verifies no honest signature.
		if (!Ed25519.validatePublicKeyFull(point, 0)) {
			throw new IllegalArgumentException("has an ed25519 key that is not a valid curve point");
		}
	}

	private static void rsa(Wire in) {
		BigInteger e = in.mpint("RSA exponent");
		BigInteger n = in.mpint("RSA modulus");
		if (e.signum() <= 0 || !e.testBit(0) || e.compareTo(BigInteger.valueOf(3)) < 0 || e.bitLength() > 64) {
			throw new IllegalArgumentException("has an invalid RSA exponent");
		}
		if (n.signum() <= 0 || !n.testBit(0)) {
			throw new IllegalArgumentException("has an invalid RSA modulus");
		}
		if (n.bitLength() < MIN_RSA_BITS) {
			throw new IllegalArgumentException("is an RSA key of " + n.bitLength() + " bits; at least " + MIN_RSA_BITS
					+ " are required (or use ssh-ed25519)");
		}
		if (n.bitLength() > MAX_RSA_BITS) {
			throw new IllegalArgumentException("is an RSA key of " + n.bitLength() + " bits; at most " + MAX_RSA_BITS);
		}
	}

	private static void ecdsa(Wire in, String curve) {
		String named = in.text("curve name");
		if (!named.equals(curve)) {
			throw new IllegalArgumentException("names curve '" + printable(named) + "' where " + curve + " belongs");
		}
		byte[] point = in.string("curve point");
		X9ECParameters parameters = ECNamedCurveTable.getByName(CURVES.get(curve));
		int fieldBytes = (parameters.getCurve().getFieldSize() + 7) / 8;
		if (point.length != 1 + 2 * fieldBytes || point[0] != 4) {
			throw new IllegalArgumentException("has a curve point that is not an uncompressed " + curve + " point");
		}
		try {
			if (!parameters.getCurve().decodePoint(point).isValid()) {
				throw new IllegalArgumentException("has a point that is not on curve " + curve);
			}
		}
		catch (IllegalArgumentException | ArithmeticException e) {
			throw new IllegalArgumentException("has a point that is not on curve " + curve);
		}
	}

	private static void application(Wire in) {
		String application = in.text("security key application");
		if (application.isEmpty() || application.length() > MAX_APPLICATION) {
			throw new IllegalArgumentException("has an invalid security key application");
		}
	}

	private static boolean knownOption(String word) {
		return switch (word.toLowerCase(Locale.ROOT)) {
			case "restrict", "cert-authority", "no-agent-forwarding", "no-port-forwarding", "no-pty",
					"no-user-rc", "no-x11-forwarding", "pty", "agent-forwarding", "port-forwarding", "user-rc",
					"x11-forwarding", "no-touch-required", "verify-required" -> true;
			default -> false;
		};
	}

	private static String printable(String text) {
		String cut = text.length() > 40 ? text.substring(0, 40) + "…" : text;
		return cut.replaceAll("[^\\x20-\\x7e…]", "?");
	}

	/** {@code type base64}: the key as it appears in an authorized_keys line, without options or comment. */
	public String text() {
		return type + " " + Base64.getEncoder().encodeToString(blob);
	}

	/** {@code SHA256:...}, as {@code ssh-keygen -l} prints it. */
	public String fingerprint() {
		try {
			byte[] digest = MessageDigest.getInstance("SHA-256").digest(blob);
			return "SHA256:" + Base64.getEncoder().withoutPadding().encodeToString(digest);
		}
		catch (NoSuchAlgorithmException e) {
			throw new IllegalStateException("every Java runtime has SHA-256", e);
		}
	}

	@Override
	public boolean equals(Object other) {
		return other instanceof SshPublicKey key && key.type.equals(type) && Arrays.equals(key.blob, blob);
	}

	@Override
	public int hashCode() {
		return type.hashCode() * 31 + Arrays.hashCode(blob);
	}

	@Override
	public String toString() {
		return type + " " + fingerprint();
	}

	/** A reader of SSH wire-format fields (RFC 4251 §5) that refuses every length past the end. */
	private static final class Wire {

		private final ByteBuffer buffer;

		Wire(byte[] bytes) {
			this.buffer = ByteBuffer.wrap(bytes);
		}

		int remaining() {
			return buffer.remaining();
		}

		byte[] string(String what) {
			if (buffer.remaining() < 4) {
				throw new IllegalArgumentException("key data ends before its " + what);
			}
			long length = Integer.toUnsignedLong(buffer.getInt());
			if (length > buffer.remaining()) {
				throw new IllegalArgumentException("key data is cut short in its " + what);
			}
			byte[] bytes = new byte[(int) length];
			buffer.get(bytes);
			return bytes;
		}

		String text(String what) {
			byte[] bytes = string(what);
			for (byte b : bytes) {
				if (b < 0x21 || b > 0x7e) {
					throw new IllegalArgumentException("key data has an unreadable " + what);
				}
			}
			return new String(bytes, StandardCharsets.US_ASCII);
		}

		byte[] fixed(String what, int length) {
			byte[] bytes = string(what);
			if (bytes.length != length) {
				throw new IllegalArgumentException("has an " + what + " that is not " + length + " bytes");
			}
			return bytes;
		}

		BigInteger mpint(String what) {
			byte[] bytes = string(what);
			if (bytes.length == 0) {
				return BigInteger.ZERO;
			}
			// RFC 4251: no unnecessary leading zero byte, and a positive value keeps its top bit clear.
			if (bytes.length > 1 && bytes[0] == 0 && bytes[1] >= 0) {
				throw new IllegalArgumentException("has a badly encoded " + what);
			}
			return new BigInteger(bytes);
		}

	}

}
