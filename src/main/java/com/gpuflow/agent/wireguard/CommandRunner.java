package com.gpuflow.agent.wireguard;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

/**
 * Runs one system tool (wg, ip, nft) with a timeout, stdout and stderr read concurrently (a dump
 * of 10,000 peers is over a megabyte and would fill the pipe). Error messages name the command by
 * a short description supplied by the caller, never its arguments, and blank anything that looks
 * like a key in stderr: wg echoes an unparsable key file's content.
 */
class CommandRunner {

	private static final Pattern KEY_LIKE = Pattern.compile("[A-Za-z0-9+/]{42,43}=");

	private final Duration timeout;

	CommandRunner(Duration timeout) {
		this.timeout = timeout;
	}

	Duration timeout() {
		return timeout;
	}

	/**
	 * @param description what to call this run in an error, e.g. {@code "wg show gf12ab dump"}
	 * @param command the program and its arguments
	 * @param stdin text for the program's standard input, if any
	 * @return standard output
	 * @throws WgCommandException on a non-zero exit, a timeout, or a program that cannot start
	 */
	String run(String description, List<String> command, Optional<String> stdin) {
		Process process;
		try {
			process = new ProcessBuilder(command).redirectInput(
					stdin.isPresent() ? ProcessBuilder.Redirect.PIPE : ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
				.start();
		}
		catch (IOException e) {
			throw new WgCommandException(description + " could not start: " + e.getMessage(), -1, "");
		}
		CompletableFuture<byte[]> out = drain(process.getInputStream());
		CompletableFuture<byte[]> err = drain(process.getErrorStream());
		try {
			if (stdin.isPresent()) {
				try (var input = process.getOutputStream()) {
					input.write(stdin.get().getBytes(StandardCharsets.UTF_8));
				}
				catch (IOException e) {
					// The tool exited early; its exit code and stderr tell why.
				}
			}
			if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
				process.destroyForcibly();
				throw new WgCommandException(description + " did not finish within " + timeout.toMillis() + " ms", -1, "");
			}
			String stderr = redact(new String(err.join(), StandardCharsets.UTF_8)).strip();
			int exit = process.exitValue();
			if (exit != 0) {
				String reason = stderr.isEmpty() ? "" : ": " + firstLines(stderr);
				throw new WgCommandException(description + " failed (exit " + exit + ")" + reason, exit, stderr);
			}
			return new String(out.join(), StandardCharsets.UTF_8);
		}
		catch (InterruptedException e) {
			process.destroyForcibly();
			Thread.currentThread().interrupt();
			throw new WgCommandException(description + " was interrupted", -1, "");
		}
	}

	static String redact(String text) {
		return KEY_LIKE.matcher(text).replaceAll("<key>");
	}

	private static String firstLines(String text) {
		String[] lines = text.split("\n");
		String joined = String.join(" | ", java.util.Arrays.copyOf(lines, Math.min(lines.length, 3)));
		return joined.length() > 500 ? joined.substring(0, 500) + "…" : joined;
	}

	private static CompletableFuture<byte[]> drain(InputStream stream) {
		CompletableFuture<byte[]> result = new CompletableFuture<>();
		Thread.ofVirtual().start(() -> {
			try (stream) {
				ByteArrayOutputStream buffer = new ByteArrayOutputStream();
				stream.transferTo(buffer);
				result.complete(buffer.toByteArray());
			}
			catch (IOException e) {
				result.completeExceptionally(new UncheckedIOException(e));
			}
		});
		return result;
	}

}
