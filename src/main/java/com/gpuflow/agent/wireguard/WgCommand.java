package com.gpuflow.agent.wireguard;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The {@code wg} tool against one interface. It works the same for the kernel module and for
 * wireguard-go. Reads and peer changes go the way {@code wg} itself goes first: to wireguard-go's
 * socket ({@link WgUapi}), without starting a process; when no wireguard-go answers there (the
 * kernel module, or a wireguard-go that died) they run {@code wg}, which then says what is wrong.
 */
class WgCommand {

	private final String wg;

	private final String interfaceName;

	private final CommandRunner runner;

	private final Path socket;

	/**
	 * @param socketDirectory where wireguard-go puts {@code <interface>.sock}
	 */
	WgCommand(String wg, String interfaceName, CommandRunner runner, Path socketDirectory) {
		this.wg = wg;
		this.interfaceName = interfaceName;
		this.runner = runner;
		this.socket = socketDirectory.resolve(interfaceName + ".sock");
	}

	String interfaceName() {
		return interfaceName;
	}

	/** Reads the live interface. The answer holds the private key: it is parsed and dropped. */
	WgDump dump() {
		Optional<String> answer = overSocket("get=1\n\n", "UAPI get on " + interfaceName);
		if (answer.isPresent()) {
			return WgUapi.parseGet(answer.get());
		}
		return WgDump.parse(runner.run("wg show " + interfaceName + " dump", List.of(wg, "show", interfaceName, "dump"),
				Optional.empty()));
	}

	/** Applies a plan: one request on wireguard-go's socket, else as few {@code wg} runs as {@link WgBatch} makes. */
	void apply(PeerPlan plan) {
		if (plan.isEmpty()) {
			return;
		}
		if (overSocket(WgUapi.setRequest(plan), "UAPI set of " + plan.size() + " peers on " + interfaceName).isEmpty()) {
			apply(WgBatch.render(plan));
		}
	}

	/**
	 * @return the answer, or empty when no wireguard-go is there to answer (the caller runs
	 * {@code wg}: every request here is idempotent, so one that broke half-way is simply repeated)
	 */
	private Optional<String> overSocket(String request, String description) {
		if (!Files.exists(socket)) {
			return Optional.empty();
		}
		try {
			return Optional.of(WgUapi.exchange(socket, request, runner.timeout(), description));
		}
		catch (IOException e) {
			return Optional.empty();
		}
	}

	/** Sets the private key from its file, so the key never appears in an argument list. */
	void configure(Path privateKeyFile, int listenPort) {
		runner.run("wg set " + interfaceName + " private-key <file> listen-port " + listenPort, List.of(wg, "set",
				interfaceName, "private-key", privateKeyFile.toString(), "listen-port", Integer.toString(listenPort)),
				Optional.empty());
	}

	/** Runs {@code wg} for each invocation, whatever the interface's kind. */
	void apply(List<WgInvocation> invocations) {
		for (WgInvocation invocation : invocations) {
			switch (invocation) {
				case WgInvocation.Set set -> {
					List<String> command = new ArrayList<>(set.args().size() + 3);
					command.add(wg);
					command.add("set");
					command.add(interfaceName);
					command.addAll(set.args());
					runner.run(set + " on " + interfaceName, command, Optional.empty());
				}
				case WgInvocation.AddConf conf -> addconf(conf);
			}
		}
	}

	private void addconf(WgInvocation.AddConf conf) {
		Path file = null;
		try {
			// Public keys and addresses only, but still kept from other users of the machine.
			file = Files.createTempFile("gpuflow-" + interfaceName + "-", ".conf",
					PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
			Files.writeString(file, conf.config());
			runner.run(conf + " on " + interfaceName, List.of(wg, "addconf", interfaceName, file.toString()),
					Optional.empty());
		}
		catch (IOException e) {
			throw new UncheckedIOException("could not write the peer file for wg addconf", e);
		}
		finally {
			if (file != null) {
				try {
					Files.deleteIfExists(file);
				}
				catch (IOException ignored) {
					// A leftover temp file of public keys is harmless.
				}
			}
		}
	}

}
