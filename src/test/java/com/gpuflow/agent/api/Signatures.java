package com.gpuflow.agent.api;

import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;

import org.web3j.crypto.Credentials;
import org.web3j.crypto.Sign;

/** In-process personal_sign for tests that need many signatures quickly, and signature surgery. */
final class Signatures {

	static final BigInteger CURVE_ORDER = Sign.CURVE_PARAMS.getN();

	private Signatures() {
	}

	static String personalSign(Credentials wallet, String message) {
		Sign.SignatureData data = Sign.signPrefixedMessage(message.getBytes(StandardCharsets.UTF_8), wallet.getEcKeyPair());
		byte[] out = new byte[65];
		System.arraycopy(data.getR(), 0, out, 0, 32);
		System.arraycopy(data.getS(), 0, out, 32, 32);
		out[64] = data.getV()[0];
		return "0x" + HexFormat.of().formatHex(out);
	}

	/**
	 * The same signature as {@link #personalSign} (RFC 6979 nonces, low s), but v comes from the
	 * parity of R as a wallet computes it, instead of web3j's trial recoveries. Load generators use
	 * it so that the client's signing does not eat the CPU the server is measured on.
	 */
	static String fastPersonalSign(org.web3j.crypto.ECKeyPair key, String message) {
		byte[] hash = Sign.getEthereumMessageHash(message.getBytes(StandardCharsets.UTF_8));
		BigInteger d = key.getPrivateKey();
		BigInteger e = new BigInteger(1, hash);
		org.bouncycastle.crypto.signers.HMacDSAKCalculator nonces = new org.bouncycastle.crypto.signers.HMacDSAKCalculator(
				new org.bouncycastle.crypto.digests.SHA256Digest());
		nonces.init(CURVE_ORDER, d, hash);
		while (true) {
			BigInteger k = nonces.nextK();
			org.bouncycastle.math.ec.ECPoint point = new org.bouncycastle.math.ec.FixedPointCombMultiplier()
				.multiply(Sign.CURVE_PARAMS.getG(), k)
				.normalize();
			BigInteger x = point.getAffineXCoord().toBigInteger();
			BigInteger r = x.mod(CURVE_ORDER);
			BigInteger s = k.modInverse(CURVE_ORDER).multiply(e.add(d.multiply(r))).mod(CURVE_ORDER);
			if (r.signum() == 0 || s.signum() == 0 || x.compareTo(CURVE_ORDER) >= 0) {
				continue;
			}
			boolean odd = point.getAffineYCoord().toBigInteger().testBit(0);
			if (s.compareTo(CURVE_ORDER.shiftRight(1)) > 0) {
				s = CURVE_ORDER.subtract(s);
				odd = !odd;
			}
			byte[] out = new byte[65];
			System.arraycopy(to32(r), 0, out, 0, 32);
			System.arraycopy(to32(s), 0, out, 32, 32);
			out[64] = (byte) (odd ? 28 : 27);
			return hex(out);
		}
	}

	static byte[] raw(String signature) {
		return HexFormat.of().parseHex(signature.substring(2));
	}

	static String hex(byte[] raw) {
		return "0x" + HexFormat.of().formatHex(raw);
	}

	/** The same signature with s replaced by n - s and v flipped: mathematically valid, high-s. */
	static String highS(String signature) {
		byte[] raw = raw(signature);
		BigInteger s = new BigInteger(1, java.util.Arrays.copyOfRange(raw, 32, 64));
		byte[] flipped = to32(CURVE_ORDER.subtract(s));
		System.arraycopy(flipped, 0, raw, 32, 32);
		raw[64] = (byte) (raw[64] == 27 ? 28 : 27);
		return hex(raw);
	}

	static byte[] to32(BigInteger value) {
		byte[] bytes = value.toByteArray();
		byte[] out = new byte[32];
		int length = Math.min(bytes.length, 32);
		System.arraycopy(bytes, bytes.length - length, out, 32 - length, length);
		return out;
	}

}
