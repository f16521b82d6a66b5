package com.gpuflow.agent.tls;

import java.net.URI;
import java.util.Arrays;
import java.util.Locale;
import java.util.Objects;
import java.util.Optional;

/**
 * What the chain says of this host's endpoint compared with what the agent serves: pure, so every
 * case is a unit test. A URL is compared without a trailing slash and with the scheme and host in
 * lower case, as a renter's client would treat them.
 */
record HostEndpointCheck(State state, String ownUrl, Optional<TlsPin.Pin> ownPin, String publishedUrl,
		byte[] publishedPin) {

	enum State {

		/** Published URL and pin are this agent's. */
		MATCHES,
		/** Nothing published for this host yet. */
		NOT_PUBLISHED,
		/** Published, but the URL or the pin (or both) differ: renters would be turned away or misled. */
		MISMATCH,
		/** The chain could not be read. */
		UNKNOWN

	}

	static final byte[] ZERO = new byte[32];

	static HostEndpointCheck compare(URI ownUrl, Optional<TlsPin.Pin> ownPin, String publishedUrl, byte[] publishedPin) {
		String own = normalise(ownUrl.toString());
		byte[] ownBytes = ownPin.map(TlsPin.Pin::sha256).orElse(ZERO);
		State state;
		if (publishedUrl.isEmpty() && Arrays.equals(publishedPin, ZERO)) {
			state = State.NOT_PUBLISHED;
		}
		else if (own.equals(normalise(publishedUrl)) && Arrays.equals(ownBytes, publishedPin)) {
			state = State.MATCHES;
		}
		else {
			state = State.MISMATCH;
		}
		return new HostEndpointCheck(state, ownUrl.toString(), ownPin, publishedUrl, publishedPin.clone());
	}

	static HostEndpointCheck unknown(URI ownUrl, Optional<TlsPin.Pin> ownPin) {
		return new HostEndpointCheck(State.UNKNOWN, ownUrl.toString(), ownPin, null, null);
	}

	boolean urlDiffers() {
		return publishedUrl != null && !normalise(ownUrl).equals(normalise(publishedUrl));
	}

	boolean pinDiffers() {
		return publishedPin != null && !Arrays.equals(ownPin.map(TlsPin.Pin::sha256).orElse(ZERO), publishedPin);
	}

	/** Equal when a change would be worth a log line: another state, or other values. */
	boolean sameAs(HostEndpointCheck other) {
		return other != null && state == other.state && ownUrl.equals(other.ownUrl) && ownPin.equals(other.ownPin)
				&& Objects.equals(publishedUrl, other.publishedUrl)
				&& Arrays.equals(publishedPin, other.publishedPin);
	}

	private static String normalise(String url) {
		String trimmed = url.trim();
		while (trimmed.endsWith("/")) {
			trimmed = trimmed.substring(0, trimmed.length() - 1);
		}
		try {
			URI uri = URI.create(trimmed);
			if (uri.getScheme() != null && uri.getHost() != null) {
				return uri.getScheme().toLowerCase(Locale.ROOT) + "://"
						+ uri.getRawAuthority().toLowerCase(Locale.ROOT)
						+ (uri.getRawPath() == null ? "" : uri.getRawPath());
			}
		}
		catch (IllegalArgumentException ignored) {
			// compared as written
		}
		return trimmed;
	}

}
