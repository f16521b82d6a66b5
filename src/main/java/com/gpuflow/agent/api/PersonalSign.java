package com.gpuflow.agent.api;

import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Locale;
import java.util.regex.Pattern;

import org.web3j.crypto.ECDSASignature;
import org.web3j.crypto.Keys;
import org.web3j.crypto.Sign;

/**
 * Recovers the signer of an EIP-191 {@code personal_sign} signature with web3j. Stricter than
 * {@link Sign#signedPrefixedMessageToKey}: exactly 65 bytes, v in {27, 28} or {0, 1}, r and s in
 * range, and s in the lower half of the curve order (EIP-2), so one signature has one encoding and
 * a flipped copy of it is not a second valid signature.
 */
final class PersonalSign {

	private static final Pattern HEX_65_BYTES = Pattern.compile("0x[0-9a-fA-F]{130}");

	private static final BigInteger CURVE_ORDER = Sign.CURVE_PARAMS.getN();

	private static final BigInteger HALF_CURVE_ORDER = CURVE_ORDER.shiftRight(1);

	/** Why no address could be recovered; the message is safe to show to the caller. */
	static final class InvalidSignature extends Exception {

		InvalidSignature(String message) {
			super(message, null, false, false);
		}

	}

	private PersonalSign() {
	}

	/**
	 * @return the signer's address, {@code 0x} and 40 lowercase hex digits
	 */
	static String recoverAddress(String message, String signature) throws InvalidSignature {
		if (signature == null || !HEX_65_BYTES.matcher(signature).matches()) {
			throw new InvalidSignature("a signature is 0x followed by 65 bytes in hex");
		}
		byte[] raw = HexFormat.of().parseHex(signature, 2, signature.length());
		BigInteger r = new BigInteger(1, Arrays.copyOfRange(raw, 0, 32));
		BigInteger s = new BigInteger(1, Arrays.copyOfRange(raw, 32, 64));
		int v = raw[64] & 0xff;
		int recoveryId = switch (v) {
			case 0, 27 -> 0;
			case 1, 28 -> 1;
			default -> throw new InvalidSignature("v must be 27 or 28 (or 0 or 1)");
		};
		if (r.signum() == 0 || r.compareTo(CURVE_ORDER) >= 0 || s.signum() == 0 || s.compareTo(CURVE_ORDER) >= 0) {
			throw new InvalidSignature("r or s is out of range");
		}
		if (s.compareTo(HALF_CURVE_ORDER) > 0) {
			throw new InvalidSignature("s is in the upper half of the curve order (EIP-2)");
		}
		byte[] hash = Sign.getEthereumMessageHash(message.getBytes(StandardCharsets.UTF_8));
		BigInteger publicKey;
		try {
			publicKey = Sign.recoverFromSignature(recoveryId, new ECDSASignature(r, s), hash);
		}
		catch (RuntimeException e) {
			// r is not the x coordinate of a curve point
			publicKey = null;
		}
		if (publicKey == null) {
			throw new InvalidSignature("no address can be recovered from this signature");
		}
		return "0x" + Keys.getAddress(publicKey).toLowerCase(Locale.ROOT);
	}

}
