package com.gpuflow.agent.keys;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;

import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

/**
 * Seals a generated renter private key at rest with AES-256-GCM under
 * {@code GPUFLOW_KEY_ENCRYPTION_KEY}. The session id is bound as associated data, so a sealed key
 * copied onto another session's row does not open.
 */
public final class KeySealer {

	private static final int NONCE_BYTES = 12;

	private static final int TAG_BITS = 128;

	private final SecretKeySpec key;

	private final SecureRandom random = new SecureRandom();

	// Cipher.getInstance looks the provider up each time; a backfill seals thousands of keys.
	private static final ThreadLocal<Cipher> ENCRYPTORS = ThreadLocal.withInitial(() -> {
		try {
			return Cipher.getInstance("AES/GCM/NoPadding");
		}
		catch (GeneralSecurityException e) {
			throw new IllegalStateException("AES-GCM is missing", e);
		}
	});

	public KeySealer(byte[] keyEncryptionKey) {
		if (keyEncryptionKey.length != 32) {
			throw new IllegalArgumentException("the key-encryption key has 32 bytes");
		}
		this.key = new SecretKeySpec(keyEncryptionKey.clone(), "AES");
	}

	public byte[] seal(String privateKey, long sessionId) {
		byte[] nonce = new byte[NONCE_BYTES];
		random.nextBytes(nonce);
		try {
			Cipher cipher = ENCRYPTORS.get();
			cipher.init(Cipher.ENCRYPT_MODE, key, new GCMParameterSpec(TAG_BITS, nonce));
			cipher.updateAAD(associatedData(sessionId));
			byte[] sealed = cipher.doFinal(privateKey.getBytes(StandardCharsets.US_ASCII));
			return ByteBuffer.allocate(NONCE_BYTES + sealed.length).put(nonce).put(sealed).array();
		}
		catch (GeneralSecurityException e) {
			throw new IllegalStateException("AES-GCM failed", e);
		}
	}

	public String open(byte[] sealed, long sessionId) {
		if (sealed == null || sealed.length <= NONCE_BYTES) {
			throw new IllegalArgumentException("not a sealed key");
		}
		try {
			Cipher cipher = Cipher.getInstance("AES/GCM/NoPadding");
			cipher.init(Cipher.DECRYPT_MODE, key, new GCMParameterSpec(TAG_BITS, sealed, 0, NONCE_BYTES));
			cipher.updateAAD(associatedData(sessionId));
			return new String(cipher.doFinal(sealed, NONCE_BYTES, sealed.length - NONCE_BYTES), StandardCharsets.US_ASCII);
		}
		catch (GeneralSecurityException e) {
			throw new IllegalArgumentException("the sealed key does not open with this key-encryption key", e);
		}
	}

	private static byte[] associatedData(long sessionId) {
		return ("gpuflow-session:" + sessionId).getBytes(StandardCharsets.US_ASCII);
	}

}
