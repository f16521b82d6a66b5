package com.gpuflow.agent.wireguard;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Whether the programs this process starts ({@code ip}, {@code wg}, {@code nft}, {@code wireguard-go})
 * will hold CAP_NET_ADMIN, read from {@code /proc/self/status}. The JVM itself never needs the
 * capability; its children do, and what they get at exec follows the kernel's rules
 * (capabilities(7)):
 * <ul>
 * <li>effective uid 0: a child's permitted set is the bounding set (plus inheritable), so NET_ADMIN
 * must be in the bounding set;</li>
 * <li>any other uid: a child keeps only the ambient set (file capabilities aside, which iproute2
 * throws away for non-root callers unless NET_ADMIN is also inheritable), so NET_ADMIN must be
 * ambient. Docker and Kubernetes give a non-root container no ambient capabilities, whatever
 * {@code --cap-add} says; the image's entrypoint starts as root and keeps NET_ADMIN ambient when it
 * drops to the service user.</li>
 * </ul>
 */
final class NetAdminCapability {

	static final int CAP_NET_ADMIN = 12;

	private NetAdminCapability() {
	}

	/** Empty when children will hold NET_ADMIN, else why not (a sentence for the operator). */
	static Optional<String> missingForChildren(String procStatus) {
		Long effectiveUid = null;
		Long bounding = null;
		Long ambient = null;
		for (String line : procStatus.split("\n")) {
			String[] fields = line.trim().split("\\s+");
			if (fields.length < 2) {
				continue;
			}
			switch (fields[0]) {
				case "Uid:" -> effectiveUid = fields.length > 2 ? Long.parseLong(fields[2]) : null;
				case "CapBnd:" -> bounding = Long.parseUnsignedLong(fields[1], 16);
				case "CapAmb:" -> ambient = Long.parseUnsignedLong(fields[1], 16);
				default -> {
				}
			}
		}
		if (effectiveUid == null || bounding == null) {
			// Not a Linux /proc we understand: the first ip/wg call reports the real error.
			return Optional.empty();
		}
		if (effectiveUid == 0) {
			return has(bounding) ? Optional.empty()
					: Optional.of("runs as root without CAP_NET_ADMIN in its bounding set (grant the capability:"
							+ " docker --cap-add NET_ADMIN, Kubernetes securityContext.capabilities.add)");
		}
		if (ambient != null && has(ambient)) {
			return Optional.empty();
		}
		return Optional.of("runs as uid " + effectiveUid + " without CAP_NET_ADMIN in its ambient set, so the ip, wg,"
				+ " nft and wireguard-go it starts would not have it (Docker and Kubernetes give a non-root"
				+ " container no ambient capabilities): start the image as root with NET_ADMIN; its entrypoint"
				+ " drops to uid 10001 keeping NET_ADMIN ambient");
	}

	/** {@link #missingForChildren(String)} of this process. */
	static Optional<String> missingForChildren() {
		try {
			return missingForChildren(Files.readString(Path.of("/proc/self/status")));
		}
		catch (IOException | RuntimeException e) {
			// Not Linux or unreadable: let the first ip/wg call report the real error.
			return Optional.empty();
		}
	}

	private static boolean has(long capabilities) {
		return (capabilities & (1L << CAP_NET_ADMIN)) != 0;
	}

}
