package com.gpuflow.agent.wireguard;

/**
 * A {@code wg}, {@code ip} or {@code nft} run failed. The message names the command (never its
 * key material) and carries the tool's own stderr with anything key-shaped blanked out.
 */
class WgCommandException extends RuntimeException {

	private final int exitCode;

	private final String stderr;

	WgCommandException(String message, int exitCode, String stderr) {
		super(message);
		this.exitCode = exitCode;
		this.stderr = stderr;
	}

	int exitCode() {
		return exitCode;
	}

	String stderr() {
		return stderr;
	}

	/** wg's words for an interface that is not there (deleted, or its wireguard-go gone). */
	boolean isInterfaceMissing() {
		String text = stderr.toLowerCase(java.util.Locale.ROOT);
		return text.contains("no such device") || text.contains("unable to access interface")
				|| text.contains("cannot find device") || text.contains("connection refused")
				|| text.contains("no such file or directory");
	}

}
