package com.gpuflow.agent.testsupport;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Paths inside the project, found from the working directory: Maven runs tests in the project root,
 * IDEs sometimes in a module or a subfolder, so walk up to the folder holding {@code pom.xml}.
 */
public final class ProjectPaths {

	private ProjectPaths() {
	}

	public static Path root() {
		Path dir = Path.of("").toAbsolutePath();
		for (Path candidate = dir; candidate != null; candidate = candidate.getParent()) {
			if (Files.isRegularFile(candidate.resolve("pom.xml")) && Files.isDirectory(candidate.resolve("contracts"))) {
				return candidate;
			}
		}
		throw new IllegalStateException("no project root (a folder with pom.xml and contracts/) above " + dir);
	}

	/** The platform binary, not the {@code .bin/} Node wrapper: the wrapper exits 0 even on failure. */
	public static Path anvil() {
		return foundryBinary("anvil");
	}

	public static Path cast() {
		return foundryBinary("cast");
	}

	private static Path foundryBinary(String name) {
		Path binary = root().resolve("contracts/node_modules/@foundry-rs/" + name + "-linux-amd64/bin/" + name);
		if (!Files.isExecutable(binary)) {
			throw new IllegalStateException(binary + " is missing: run `npm --prefix contracts ci` first");
		}
		return binary;
	}

	/**
	 * The shared SPEC: CI clones the repository into some folder with {@code shared/} beside it, so
	 * {@code <project root>/../shared/SPEC.md}; {@code /work/shared/SPEC.md} is the fallback on the
	 * development machines.
	 */
	public static Path spec() {
		Path beside = root().resolveSibling("shared").resolve("SPEC.md");
		if (Files.isRegularFile(beside)) {
			return beside;
		}
		Path fallback = Path.of("/work/shared/SPEC.md");
		if (Files.isRegularFile(fallback)) {
			return fallback;
		}
		throw new IllegalStateException("SPEC.md not found at " + beside + " nor " + fallback);
	}

}
