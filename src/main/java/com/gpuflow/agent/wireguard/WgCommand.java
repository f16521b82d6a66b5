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
 * wireguard-go (through its socket in /var/run/wireguard), which is why the agent drives both
 * through it.
 */
class WgCommand {

	private final String wg;

	private final String interfaceName;

	private final CommandRunner runner;

	WgCommand(String wg, String interfaceName, CommandRunner runner) {
		this.wg = wg;
		this.interfaceName = interfaceName;
		this.runner = runner;
	}

	String interfaceName() {
		return interfaceName;
	}

	/** Reads the live interface. The output holds the private key: it is parsed and dropped. */
	WgDump dump() {
		return WgDump.parse(runner.run("wg show " + interfaceName + " dump", List.of(wg, "show", interfaceName, "dump"),
				Optional.empty()));
	}

	/** Sets the private key from its file, so the key never appears in an argument list. */
	void configure(Path privateKeyFile, int listenPort) {
		runner.run("wg set " + interfaceName + " private-key <file> listen-port " + listenPort, List.of(wg, "set",
				interfaceName, "private-key", privateKeyFile.toString(), "listen-port", Integer.toString(listenPort)),
				Optional.empty());
	}

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
