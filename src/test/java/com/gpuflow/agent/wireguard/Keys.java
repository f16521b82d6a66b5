package com.gpuflow.agent.wireguard;

import java.util.Base64;
import java.util.Random;

/** Deterministic, valid-looking public keys for pure tests (no crypto needed to diff). */
final class Keys {

	private Keys() {
	}

	static String key(int n) {
		byte[] raw = new byte[32];
		new Random(n * 7919L + 1).nextBytes(raw);
		return Base64.getEncoder().encodeToString(raw);
	}

}
