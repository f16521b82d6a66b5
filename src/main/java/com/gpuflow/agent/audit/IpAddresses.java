package com.gpuflow.agent.audit;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * Checks an address literal without ever resolving a name: an auditor's query must not make the
 * agent ask DNS about attacker-chosen hosts.
 */
final class IpAddresses {

	private static final Pattern OCTET = Pattern.compile("0|[1-9]\\d{0,2}");

	private static final Pattern IPV6_CHARACTERS = Pattern.compile("[0-9a-fA-F:.]{2,45}");

	private IpAddresses() {
	}

	/** @return the address in the form PostgreSQL's {@code host()} prints for IPv4, lower case for IPv6 */
	static String parse(String name, String value) {
		if (value.indexOf(':') < 0) {
			String[] parts = value.split("\\.", -1);
			if (parts.length == 4) {
				boolean valid = true;
				for (String part : parts) {
					valid &= OCTET.matcher(part).matches() && Integer.parseInt(part) <= 255;
				}
				if (valid) {
					return value;
				}
			}
		}
		else if (IPV6_CHARACTERS.matcher(value).matches()) {
			try {
				// A literal with a colon is parsed, never looked up.
				InetAddress.getByName(value);
				return value.toLowerCase(Locale.ROOT);
			}
			catch (UnknownHostException | IllegalArgumentException e) {
				// refused below
			}
		}
		throw ApiProblem.invalidParameter(name, "must be an IP address such as 10.77.0.5");
	}

}
