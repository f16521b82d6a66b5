package com.gpuflow.agent.keys;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.Set;

/**
 * A random secret of the agent's own kept in a file beside the server key (one base64 line, mode
 * 0600), made at the first start and reused after: for example the key that MACs sign-in nonces,
 * so challenges issued before a restart still work after it. Creation never replaces a file.
 */
public final class LocalSecret {

	private static final Set<PosixFilePermission> OWNER_ONLY = PosixFilePermissions.fromString("rw-------");

	private static final SecureRandom RANDOM = new SecureRandom();

	private LocalSecret() {
	}

	/**
	 * @throws IOException when the file cannot be read or made, or holds something else than
	 * {@code length} bytes of base64
	 */
	public static byte[] loadOrCreate(Path file, int length) throws IOException {
		if (!Files.exists(file)) {
			byte[] fresh = new byte[length];
			RANDOM.nextBytes(fresh);
			writeOnce(file, (Base64.getEncoder().encodeToString(fresh) + "\n").getBytes(StandardCharsets.US_ASCII));
		}
		byte[] secret;
		try {
			secret = Base64.getDecoder().decode(Files.readString(file, StandardCharsets.US_ASCII).trim());
		}
		catch (IllegalArgumentException e) {
			throw new IOException(file + " is not one base64 line");
		}
		if (secret.length != length) {
			throw new IOException(file + " holds " + secret.length + " bytes, not " + length);
		}
		return secret;
	}

	/**
	 * Writes a new owner-only file: to a private temporary file first, then hard-linked into place,
	 * so nobody reads it half-written and a file another process made meanwhile is kept.
	 * @return whether this call made the file
	 */
	public static boolean writeOnce(Path file, byte[] content) throws IOException {
		Path directory = file.toAbsolutePath().getParent();
		Files.createDirectories(directory);
		Path temporary = Files.createTempFile(directory, "." + file.getFileName() + "-", ".tmp",
				PosixFilePermissions.asFileAttribute(OWNER_ONLY));
		try {
			Files.write(temporary, content);
			Files.createLink(file, temporary);
			return true;
		}
		catch (FileAlreadyExistsException raced) {
			return false;
		}
		finally {
			Files.deleteIfExists(temporary);
		}
	}

}
