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
