package com.gpuflow.agent.api;

import java.net.URI;
import java.net.URISyntaxException;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.format.DateTimeParseException;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.web3j.crypto.Keys;

/**
 * A Sign-In with Ethereum message (EIP-4361), built and parsed strictly. The usual Java library
 * ({@code com.moonstoneid:siwe-java}) is not served by the Maven registry this project builds from,
 * and the agent only needs the fields it issues, so this small implementation follows the EIP's
 * ABNF directly: LF line ends, fields in the fixed order, no trailing newline, EIP-55 address.
 * The optional Not Before and Request ID fields are accepted by the parser, never issued.
 */
record SiweMessage(String domain, String address, Optional<String> statement, URI uri, String version, long chainId,
		String nonce, Instant issuedAt, Optional<Instant> expirationTime, Optional<Instant> notBefore,
		Optional<String> requestId, List<String> resources) {

	private static final String PREAMBLE = " wants you to sign in with your Ethereum account:";

	// An authority without userinfo: host name, IPv4 or bracketed IPv6, optional port.
	private static final Pattern DOMAIN = Pattern.compile("([A-Za-z0-9.-]+|\\[[0-9A-Fa-f:.]+\\])(:[0-9]{1,5})?");

	private static final Pattern ADDRESS = Pattern.compile("0x[0-9a-fA-F]{40}");

	// EIP-4361: statement = 1*( reserved / unreserved / " " ), so no line breaks and nothing exotic.
	private static final Pattern STATEMENT = Pattern.compile("[A-Za-z0-9\\-._~:/?#\\[\\]@!$&'()*+,;= ]+");

	// EIP-4361 asks for at least 8 alphanumerics; nonces issued here have far more (see Nonces).
	private static final Pattern NONCE = Pattern.compile("[A-Za-z0-9]{8,}");

	private static final Pattern CHAIN_ID = Pattern.compile("[1-9][0-9]{0,18}");

	private static final Pattern NO_SPACE = Pattern.compile("\\S+");

	private static final Pattern PRESENTED_NONCE = Pattern.compile("(?m)^Nonce: ([A-Za-z0-9]{8,200})$");

	SiweMessage {
		require(domain != null && DOMAIN.matcher(domain).matches(), "domain is not a host[:port]");
		require(address != null && ADDRESS.matcher(address).matches() && Keys.toChecksumAddress(address).equals(address),
				"address is not an EIP-55 checksummed address");
		require(statement != null && statement.map(s -> STATEMENT.matcher(s).matches()).orElse(true),
				"statement has characters EIP-4361 does not allow");
		require(uri != null && uri.isAbsolute(), "URI is not absolute");
		require("1".equals(version), "Version must be 1");
		require(chainId > 0, "Chain ID must be positive");
		require(nonce != null && NONCE.matcher(nonce).matches(), "Nonce must be at least 8 alphanumerics");
		require(issuedAt != null && expirationTime != null && notBefore != null && requestId != null,
				"a field is missing");
		require(requestId.map(r -> NO_SPACE.matcher(r).matches()).orElse(true), "Request ID has whitespace");
		require(resources != null && resources.stream().allMatch(r -> r != null && isAbsoluteUri(r)),
				"a resource is not an absolute URI");
		resources = List.copyOf(resources);
	}

	/** A message as this agent issues it: statement, expiry and resources, times in whole seconds. */
	static SiweMessage issue(String domain, String address, String statement, URI uri, long chainId, String nonce,
			Instant issuedAt, Instant expirationTime, String... resources) {
		return new SiweMessage(domain, Keys.toChecksumAddress(address), Optional.of(statement), uri, "1", chainId, nonce,
				issuedAt.truncatedTo(ChronoUnit.SECONDS), Optional.of(expirationTime.truncatedTo(ChronoUnit.SECONDS)),
				Optional.empty(), Optional.empty(), List.of(resources));
	}

	/** The exact text to sign. */
	String text() {
		StringBuilder out = new StringBuilder();
		out.append(domain).append(PREAMBLE).append('\n');
		out.append(address).append('\n');
		out.append('\n');
		statement.ifPresent(s -> out.append(s).append('\n'));
		out.append('\n');
		out.append("URI: ").append(uri).append('\n');
		out.append("Version: ").append(version).append('\n');
		out.append("Chain ID: ").append(chainId).append('\n');
		out.append("Nonce: ").append(nonce).append('\n');
		out.append("Issued At: ").append(issuedAt);
		expirationTime.ifPresent(t -> out.append("\nExpiration Time: ").append(t));
		notBefore.ifPresent(t -> out.append("\nNot Before: ").append(t));
		requestId.ifPresent(r -> out.append("\nRequest ID: ").append(r));
		if (!resources.isEmpty()) {
			out.append("\nResources:");
			resources.forEach(r -> out.append("\n- ").append(r));
		}
		return out.toString();
	}

	/**
	 * @throws IllegalArgumentException naming the first thing that does not follow EIP-4361
	 */
	static SiweMessage parse(String text) {
		require(text != null, "no message");
		require(text.indexOf('\r') < 0, "lines must end with LF only");
		Lines lines = new Lines(text.split("\n", -1));
		String first = lines.next("the preamble");
		require(first.endsWith(PREAMBLE), "the first line must end with '" + PREAMBLE.trim() + "'");
		String domain = first.substring(0, first.length() - PREAMBLE.length());
		String address = lines.next("the address");
		lines.expectBlank();
		String maybeStatement = lines.next("the statement or a blank line");
		Optional<String> statement = Optional.empty();
		if (!maybeStatement.isEmpty()) {
			statement = Optional.of(maybeStatement);
			lines.expectBlank();
		}
		URI uri = uri(lines.field("URI"));
		String version = lines.field("Version");
		String chainText = lines.field("Chain ID");
		require(CHAIN_ID.matcher(chainText).matches(), "Chain ID is not a positive decimal number");
		long chainId = Long.parseLong(chainText);
		String nonce = lines.field("Nonce");
		Instant issuedAt = time(lines.field("Issued At"), "Issued At");
		Optional<Instant> expiration = lines.optionalField("Expiration Time").map(t -> time(t, "Expiration Time"));
		Optional<Instant> notBefore = lines.optionalField("Not Before").map(t -> time(t, "Not Before"));
		Optional<String> requestId = lines.optionalField("Request ID");
		List<String> resources = new ArrayList<>();
		if (lines.hasNext()) {
			require(lines.next("Resources").equals("Resources:"), "unexpected line after the fields");
			require(lines.hasNext(), "Resources: lists no resource");
			while (lines.hasNext()) {
				String line = lines.next("a resource");
				require(line.startsWith("- "), "a resource line must start with '- '");
				resources.add(line.substring(2));
			}
		}
		return new SiweMessage(domain, address, statement, uri, version, chainId, nonce, issuedAt, expiration, notBefore,
				requestId, resources);
	}

	/**
	 * The nonce a presented text claims, found even when the rest is edited or broken, so that the
	 * nonce is spent by the first request that presents it whatever else is wrong.
	 */
	static Optional<String> presentedNonce(String text) {
		Matcher matcher = PRESENTED_NONCE.matcher(text);
		return matcher.find() ? Optional.of(matcher.group(1)) : Optional.empty();
	}

	private static URI uri(String text) {
		try {
			URI uri = new URI(text);
			require(uri.isAbsolute(), "URI is not absolute");
			return uri;
		}
		catch (URISyntaxException e) {
			throw new IllegalArgumentException("URI is not a URI");
		}
	}

	private static boolean isAbsoluteUri(String text) {
		try {
			return NO_SPACE.matcher(text).matches() && new URI(text).isAbsolute();
		}
		catch (URISyntaxException e) {
			return false;
		}
	}

	// RFC 3339 date-time: an offset is required (OffsetDateTime refuses a bare local time).
	private static Instant time(String text, String field) {
		try {
			require(text.matches("\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,9})?(Z|[+-]\\d{2}:\\d{2})"),
					field + " is not an RFC 3339 date-time");
			return OffsetDateTime.parse(text).toInstant();
		}
		catch (DateTimeParseException e) {
			throw new IllegalArgumentException(field + " is not an RFC 3339 date-time");
		}
	}

	private static void require(boolean condition, String problem) {
		if (!condition) {
			throw new IllegalArgumentException(problem);
		}
	}

	private static final class Lines {

		private final String[] lines;

		private int position;

		Lines(String[] lines) {
			this.lines = lines;
		}

		boolean hasNext() {
			return position < lines.length;
		}

		String next(String what) {
			require(hasNext(), "the message ends before " + what);
			return lines[position++];
		}

		void expectBlank() {
			require(next("a blank line").isEmpty(), "a blank line is missing");
		}

		String field(String name) {
			String line = next(name);
			require(line.startsWith(name + ": "), "expected '" + name + ": ' at line " + position);
			return line.substring(name.length() + 2);
		}

		Optional<String> optionalField(String name) {
			if (hasNext() && lines[position].startsWith(name + ": ")) {
				return Optional.of(field(name));
			}
			return Optional.empty();
		}

	}

}
