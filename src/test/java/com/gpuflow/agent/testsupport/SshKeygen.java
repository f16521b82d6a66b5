package com.gpuflow.agent.testsupport;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/** Key pairs made by OpenSSH's ssh-keygen, for tests of SSH access. */
public final class SshKeygen {

	/** A private key file and the public key line ssh-keygen wrote beside it. */
	public record KeyPair(Path privateKey, String publicKey) {

		/** {@code type base64}, without the comment. */
		public String typeAndBlob() {
			String[] fields = publicKey.split(" ");
			return fields[0] + " " + fields[1];
		}

	}

	private SshKeygen() {
	}

	/** {@code ssh-keygen -t type [-b bits]} into {@code directory/name}, no passphrase. */
	public static KeyPair generate(Path directory, String name, String type, int bits) {
		Path key = directory.resolve(name);
		List<String> command = new ArrayList<>(List.of("ssh-keygen", "-q", "-t", type, "-N", "", "-C", name + "@test", "-f",
				key.toString()));
		if (bits > 0) {
			command.addAll(List.of("-b", String.valueOf(bits)));
		}
		RenterNamespace.Result result = RenterNamespace.run(command, Duration.ofSeconds(60));
		if (result.exit() != 0) {
			throw new IllegalStateException("ssh-keygen failed: " + result.output());
		}
		try {
			return new KeyPair(key, Files.readString(Path.of(key + ".pub")).strip());
		}
		catch (IOException e) {
			throw new UncheckedIOException(e);
		}
	}

	public static KeyPair ed25519(Path directory, String name) {
		return generate(directory, name, "ed25519", 0);
	}

}
