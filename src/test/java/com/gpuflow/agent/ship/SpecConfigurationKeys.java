package com.gpuflow.agent.ship;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.util.LinkedHashSet;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import com.gpuflow.agent.testsupport.ProjectPaths;

/**
 * The environment variables of the SPEC's configuration table, read from the SPEC itself so that
 * packaging cannot drift from the contract. A first cell like
 * {@code `SPRING_DATASOURCE_URL` / `_USERNAME` / `_PASSWORD`} names three keys: a part starting
 * with {@code _} replaces the last segment of the first key.
 */
final class SpecConfigurationKeys {

	private static final Pattern ROW = Pattern.compile("^\\|\\s*(`[^|]+)\\|");

	private static final Pattern KEY = Pattern.compile("`([A-Z_][A-Z0-9_]*)`");

	private SpecConfigurationKeys() {
	}

	static Set<String> read() {
		String spec;
		try {
			spec = Files.readString(ProjectPaths.spec());
		}
		catch (IOException e) {
			throw new UncheckedIOException(e);
		}
		int start = spec.indexOf("## Configuration");
		int end = spec.indexOf("\n## ", start + 1);
		if (start < 0) {
			throw new IllegalStateException("the SPEC has no '## Configuration' section");
		}
		Set<String> keys = new LinkedHashSet<>();
		for (String line : spec.substring(start, (end > 0) ? end : spec.length()).split("\n")) {
			Matcher row = ROW.matcher(line);
			if (!row.find()) {
				continue;
			}
			String first = null;
			Matcher key = KEY.matcher(row.group(1));
			while (key.find()) {
				String name = key.group(1);
				if (first == null) {
					first = name;
					keys.add(name);
				}
				else if (name.startsWith("_")) {
					keys.add(first.substring(0, first.lastIndexOf('_')) + name);
				}
				else {
					keys.add(name);
				}
			}
		}
		return keys;
	}

}
