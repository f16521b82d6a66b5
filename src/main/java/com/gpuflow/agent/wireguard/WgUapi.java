package com.gpuflow.agent.wireguard;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import com.gpuflow.agent.keys.WireGuardKeys;

/**
 * WireGuard's cross-platform userspace API (wireguard.com/xplatform) on wireguard-go's socket
 * {@code /var/run/wireguard/<if>.sock}: what {@code wg show dump} and {@code wg set} send there,
 * without starting {@code wg}. Measured reason: inside the agent, while rentals came in, every
 * {@code wg} run took 17–21 ms of process start on two cores, three per applying pass, and a rental
 * that arrived during a pass waited for it; a read of 200 peers through the socket, parsed, took
 * about 3 ms on the same machine while it ran the test suite. Keys travel as hex here and base64
 * everywhere else; the interface's private key is turned into its public key at once and dropped,
 * as in {@link WgDump}.
 */
final class WgUapi {

	private static final HexFormat HEX = HexFormat.of();

	private static final String ZERO_KEY = "0".repeat(64);

	private WgUapi() {
	}

	/**
	 * The plan as one {@code set=1} request, in the order {@link PeerPlan} requires: removals,
	 * releases, then additions and updates. Each peer's keepalive comes after its allowed IPs and
	 * endpoint (a keepalive may start a handshake at once).
	 */
	static String setRequest(PeerPlan plan) {
		StringBuilder request = new StringBuilder(64 + 200 * (plan.size() + plan.releases().size()));
		request.append("set=1\n");
		for (Peer peer : plan.removals()) {
			request.append("public_key=").append(hex(peer.publicKey())).append("\nremove=true\n");
		}
		for (Peer peer : plan.releases()) {
			peer(request, peer, true, false, false);
		}
		for (Peer peer : plan.additions()) {
			peer(request, peer, true, true, true);
		}
		for (PeerPlan.PeerUpdate update : plan.updates()) {
			peer(request, update.to(), update.willChangeIps(), update.willChangeEndpoint(), update.willChangeKeepalive());
		}
		return request.append('\n').toString();
	}

	private static void peer(StringBuilder request, Peer peer, boolean ips, boolean endpoint, boolean keepalive) {
		request.append("public_key=").append(hex(peer.publicKey())).append('\n');
		if (endpoint) {
			peer.endpoint().ifPresent(value -> request.append("endpoint=").append(value).append('\n'));
		}
		if (ips) {
			// Replaces the peer's allowed IPs, as wg set does; none listed clears them.
			request.append("replace_allowed_ips=true\n");
			for (String ip : peer.allowedIps()) {
				request.append("allowed_ip=").append(ip).append('\n');
			}
		}
		if (keepalive) {
			request.append("persistent_keepalive_interval=").append(peer.keepalive()).append('\n');
		}
	}

	/**
	 * Parses a {@code get=1} answer (without its {@code errno=0} line) into the same dump
	 * {@code wg show dump} gives. Scanned in place rather than split: at 10,000 peers the answer has
	 * 120,000 lines, most of which (zero preshared keys, nanoseconds) are skipped without a string.
	 */
	static WgDump parseGet(String answer) {
		Optional<String> publicKey = Optional.empty();
		int listenPort = 0;
		List<LivePeer> peers = new ArrayList<>();
		PeerFields current = null;
		int length = answer.length();
		int lineStart = 0;
		while (lineStart < length) {
			int lineEnd = answer.indexOf('\n', lineStart);
			if (lineEnd < 0) {
				lineEnd = length;
			}
			if (lineEnd == lineStart) {
				lineStart = lineEnd + 1;
				continue;
			}
			int equals = answer.indexOf('=', lineStart);
			if (equals <= lineStart || equals > lineEnd) {
				throw new IllegalArgumentException("UAPI answer line without key=value");
			}
			int value = equals + 1;
			if (is(answer, lineStart, equals, "public_key")) {
				if (current != null) {
					peers.add(current.toLivePeer());
				}
				current = new PeerFields(base64(answer.substring(value, lineEnd)));
			}
			else if (current == null) {
				if (is(answer, lineStart, equals, "private_key")) {
					publicKey = Optional.of(WireGuardKeys.publicKeyOf(HEX.parseHex(answer, value, lineEnd)));
				}
				else if (is(answer, lineStart, equals, "listen_port")) {
					listenPort = (int) number(answer, value, lineEnd, "listen_port");
				}
				// fwmark and anything newer: not what the agent manages.
			}
			else if (is(answer, lineStart, equals, "allowed_ip")) {
				current.allowedIps.add(answer.substring(value, lineEnd));
			}
			else if (is(answer, lineStart, equals, "endpoint")) {
				current.endpoint = Optional.of(answer.substring(value, lineEnd));
			}
			else if (is(answer, lineStart, equals, "preshared_key")) {
				current.presharedKey = lineEnd - value != ZERO_KEY.length() || !answer.startsWith(ZERO_KEY, value);
			}
			else if (is(answer, lineStart, equals, "last_handshake_time_sec")) {
				current.handshakeSeconds = number(answer, value, lineEnd, "last_handshake_time_sec");
			}
			else if (is(answer, lineStart, equals, "rx_bytes")) {
				current.rxBytes = number(answer, value, lineEnd, "rx_bytes");
			}
			else if (is(answer, lineStart, equals, "tx_bytes")) {
				current.txBytes = number(answer, value, lineEnd, "tx_bytes");
			}
			else if (is(answer, lineStart, equals, "persistent_keepalive_interval")) {
				current.keepalive = (int) number(answer, value, lineEnd, "persistent_keepalive_interval");
			}
			// protocol_version, last_handshake_time_nsec and anything newer are skipped.
			lineStart = lineEnd + 1;
		}
		if (current != null) {
			peers.add(current.toLivePeer());
		}
		return new WgDump(publicKey, listenPort, List.copyOf(peers));
	}

	private static boolean is(String text, int keyStart, int keyEnd, String key) {
		return keyEnd - keyStart == key.length() && text.startsWith(key, keyStart);
	}

	/**
	 * One request and its answer on {@code socket}, the connection closed after {@code timeout}.
	 * @return the answer without its {@code errno=0} line
	 * @throws IOException when the socket cannot be reached or breaks (no wireguard-go behind it)
	 * @throws WgCommandException when wireguard-go answers with a non-zero errno
	 */
	static String exchange(Path socket, String request, Duration timeout, String description) throws IOException {
		try (SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX)) {
			CompletableFuture<Void> deadline = new CompletableFuture<>();
			deadline.completeOnTimeout(null, timeout.toMillis(), TimeUnit.MILLISECONDS).thenRun(() -> closeQuietly(channel));
			try {
				channel.connect(UnixDomainSocketAddress.of(socket));
				ByteBuffer out = ByteBuffer.wrap(request.getBytes(StandardCharsets.UTF_8));
				while (out.hasRemaining()) {
					channel.write(out);
				}
				String answer = readAnswer(channel);
				int errnoAt = answer.lastIndexOf("errno=");
				if (errnoAt < 0 || (errnoAt > 0 && answer.charAt(errnoAt - 1) != '\n')) {
					throw new IOException("no errno line in the answer");
				}
				long errno;
				try {
					// wireguard-go answers a refused request with a negative errno (-22 for EINVAL).
					errno = Math.abs(Long.parseLong(answer.substring(errnoAt + 6).strip()));
				}
				catch (NumberFormatException e) {
					throw new IOException("the errno line is not a number");
				}
				if (errno != 0) {
					throw new WgCommandException(description + " failed (errno " + errno + ")", (int) errno, "");
				}
				return answer.substring(0, errnoAt);
			}
			finally {
				deadline.cancel(false);
			}
		}
	}

	/** Reads until the blank line that ends an answer, or the end of the stream. */
	private static String readAnswer(SocketChannel channel) throws IOException {
		ByteBuffer buffer = ByteBuffer.allocate(64 * 1024);
		ByteArrayOutputStream answer = new ByteArrayOutputStream();
		byte last = 0;
		byte beforeLast = 0;
		while (!(last == '\n' && beforeLast == '\n')) {
			buffer.clear();
			int read = channel.read(buffer);
			if (read < 0) {
				break;
			}
			answer.write(buffer.array(), 0, read);
			beforeLast = read >= 2 ? buffer.get(read - 2) : last;
			last = buffer.get(read - 1);
		}
		return answer.toString(StandardCharsets.UTF_8);
	}

	private static void closeQuietly(SocketChannel channel) {
		try {
			channel.close();
		}
		catch (IOException ignored) {
			// Closing only to unblock a read that outlived its deadline.
		}
	}

	private static String hex(String base64Key) {
		return HEX.formatHex(Base64.getDecoder().decode(base64Key));
	}

	private static String base64(String hexKey) {
		return Base64.getEncoder().encodeToString(HEX.parseHex(hexKey));
	}

	/** A non-negative decimal in {@code text[from, to)}; the message names the field, never the text. */
	private static long number(String text, int from, int to, String what) {
		if (from >= to || to - from > 18) {
			throw new IllegalArgumentException("UAPI " + what + " is not a number");
		}
		long parsed = 0;
		for (int i = from; i < to; i++) {
			char c = text.charAt(i);
			if (c < '0' || c > '9') {
				throw new IllegalArgumentException("UAPI " + what + " is not a number");
			}
			parsed = parsed * 10 + (c - '0');
		}
		return parsed;
	}

	/** One peer's lines of a get answer, gathered until the next public_key. */
	private static final class PeerFields {

		final String publicKey;

		boolean presharedKey;

		Optional<String> endpoint = Optional.empty();

		long handshakeSeconds;

		long rxBytes;

		long txBytes;

		int keepalive;

		final TreeSet<String> allowedIps = new TreeSet<>();

		PeerFields(String publicKey) {
			this.publicKey = publicKey;
		}

		LivePeer toLivePeer() {
			return LivePeer.of(new Peer(publicKey, allowedIps, keepalive, endpoint), presharedKey, handshakeSeconds,
					rxBytes, txBytes);
		}

	}

}
