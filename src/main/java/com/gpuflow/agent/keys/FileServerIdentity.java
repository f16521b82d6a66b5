package com.gpuflow.agent.keys;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;

import com.gpuflow.agent.config.InvalidSettingException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The server key kept in {@code WG_PRIVATE_KEY_FILE}: one base64 line, exactly what {@code wg genkey}
 * writes, mode 0600. The only loader of that file: the interface (which hands the file to
 * {@code wg}) and the configs (which print its public key) both come here, so they cannot disagree.
 * Whoever starts first creates it; creation never overwrites an existing file. The private key
 * itself is never logged and not kept in this object.
 */
public final class FileServerIdentity implements ServerIdentity {

	private static final Logger log = LoggerFactory.getLogger(FileServerIdentity.class);

	private static final Set<PosixFilePermission> OWNER_ONLY = PosixFilePermissions.fromString("rw-------");

	private final String publicKey;

	private FileServerIdentity(String publicKey) {
		this.publicKey = publicKey;
	}

	public static FileServerIdentity loadOrCreate(Path file) {
		try {
			if (!Files.exists(file)) {
				create(file);
			}
			return load(file);
		}
		catch (IOException e) {
			throw new InvalidSettingException("WG_PRIVATE_KEY_FILE", "cannot read or create " + file + ": " + e.getMessage());
		}
	}

	@Override
	public String publicKey() {
		return publicKey;
	}

	private static FileServerIdentity load(Path file) throws IOException {
		String content = Files.readString(file, StandardCharsets.US_ASCII).trim();
		String publicKey;
		try {
			publicKey = WireGuardKeys.publicKeyOf(content);
		}
		catch (IllegalArgumentException e) {
			// The message names the file, never its content.
			throw new InvalidSettingException("WG_PRIVATE_KEY_FILE",
					file + " does not hold a base64 WireGuard private key (one line, as wg genkey writes)");
		}
		try {
			Set<PosixFilePermission> permissions = Files.getPosixFilePermissions(file);
			if (!OWNER_ONLY.containsAll(permissions)) {
				log.warn("{} is readable by others ({}); it should be mode 0600", file,
						PosixFilePermissions.toString(permissions));
			}
		}
		catch (UnsupportedOperationException ignored) {
			// not a POSIX file system: nothing to check
		}
		return new FileServerIdentity(publicKey);
	}

	private static void create(Path file) throws IOException {
		Path directory = file.toAbsolutePath().getParent();
		if (!Files.isDirectory(directory)) {
			Files.createDirectories(directory, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
		}
		// Written to a private temporary file first and then hard-linked into place: the link fails
		// if another process created the key meanwhile, so nobody ever reads a half-written key
		// and an existing key is never replaced.
		Path temporary = Files.createTempFile(directory, ".server-key-", ".tmp",
				PosixFilePermissions.asFileAttribute(OWNER_ONLY));
		try {
			Files.writeString(temporary, WireGuardKeys.generate().privateKey() + "\n", StandardCharsets.US_ASCII);
			Files.createLink(file, temporary);
			log.info("created the server key {}", file);
		}
		catch (FileAlreadyExistsException raced) {
			// another process won; its key is the one
		}
		finally {
			Files.deleteIfExists(temporary);
		}
	}

}
