package com.gpuflow.agent.audit;

import java.math.BigInteger;
import java.util.List;

import com.fasterxml.jackson.annotation.JsonInclude;

/**
 * The JSON shapes of the audit routes. Times are ISO-8601 UTC strings and absent ones stay in the
 * body as null; a rental id is a JSON number up to 2^53 and a string above, where a JavaScript
 * reader would start to round it.
 */
final class AuditRecords {

	private static final BigInteger LARGEST_EXACT_DOUBLE = BigInteger.ONE.shiftLeft(53);

	private AuditRecords() {
	}

	static Object rentalId(BigInteger rentalId) {
		if (rentalId == null) {
			return null;
		}
		return rentalId.compareTo(LARGEST_EXACT_DOUBLE) <= 0 ? (Object) rentalId.longValueExact() : rentalId.toString();
	}

	/** The SPEC's session item, field for field; {@link #COLUMNS} is the CSV header in the same order. */
	@JsonInclude(JsonInclude.Include.ALWAYS)
	record SessionItem(Object rentalId, String renter, String tunnelIp, String peerPublicKey, String state,
			String createdAt, String confirmedAt, String peerAddedAt, String configDeliveredAt, String firstHandshakeAt,
			String endedAt, String endReason, long rxBytes, long txBytes, String connectionState, Double setupSeconds,
			double connectedSeconds, int drops) {

		static final List<String> COLUMNS = List.of("rentalId", "renter", "tunnelIp", "peerPublicKey", "state",
				"createdAt", "confirmedAt", "peerAddedAt", "configDeliveredAt", "firstHandshakeAt", "endedAt",
				"endReason", "rxBytes", "txBytes", "connectionState", "setupSeconds", "connectedSeconds", "drops");

		List<String> csvFields() {
			return java.util.Arrays.asList(rentalId == null ? null : rentalId.toString(), renter, tunnelIp, peerPublicKey,
					state, createdAt, confirmedAt, peerAddedAt, configDeliveredAt, firstHandshakeAt, endedAt, endReason,
					Long.toString(rxBytes), Long.toString(txBytes), connectionState,
					setupSeconds == null ? null : Double.toString(setupSeconds), Double.toString(connectedSeconds),
					Integer.toString(drops));
		}

	}

	@JsonInclude(JsonInclude.Include.ALWAYS)
	record SessionPage(List<SessionItem> items, String nextCursor) {
	}

	@JsonInclude(JsonInclude.Include.ALWAYS)
	record Lease(Object rentalId, String renter, String from, String to) {
	}

	@JsonInclude(JsonInclude.Include.ALWAYS)
	record IpHistory(String ip, List<Lease> leases) {
	}

	/** One audit event; {@code sessionId} tells apart the sessions of a rental id that a reorganisation reused. */
	@JsonInclude(JsonInclude.Include.ALWAYS)
	record Event(long id, Long sessionId, String at, String kind, String detail) {
	}

	@JsonInclude(JsonInclude.Include.ALWAYS)
	record SessionEvents(Object rentalId, List<Event> events) {
	}

	@JsonInclude(JsonInclude.Include.ALWAYS)
	record Verification(boolean ok, long events, Long firstBadEventId) {
	}

	/**
	 * A peer of the live interface joined to its session; {@code renter}, {@code state} and
	 * {@code endsAt} are there for the operator dashboard (time left).
	 */
	@JsonInclude(JsonInclude.Include.ALWAYS)
	record PeerItem(Object rentalId, String tunnelIp, String publicKey, String endpoint, List<String> allowedIps,
			String latestHandshake, long rxBytes, long txBytes, String renter, String state, String endsAt) {
	}

	@JsonInclude(JsonInclude.Include.ALWAYS)
	record Peers(List<PeerItem> peers) {
	}

	/** A session's recent traffic: bytes per bucket of {@code bucketSeconds}, oldest first. */
	@JsonInclude(JsonInclude.Include.ALWAYS)
	record Throughput(Object rentalId, String peerPublicKey, long bucketSeconds, List<ThroughputBucket> buckets) {
	}

	@JsonInclude(JsonInclude.Include.ALWAYS)
	record ThroughputBucket(String from, long rxBytes, long txBytes) {
	}

	/**
	 * Connection quality of this host over a window, against the targets the provider is held to:
	 * setups established within 60 s over all judged setups, and drops per established tunnel.
	 */
	@JsonInclude(JsonInclude.Include.ALWAYS)
	record Connections(String from, String to, List<Double> setupSeconds, long established, long notEstablished,
			long drops, Double handshakeSuccessRate, Double dropRate, List<HourlyDrops> dropsByHour,
			long connectedNow, long waitingNow, long lostNow, Targets targets) {
	}

	@JsonInclude(JsonInclude.Include.ALWAYS)
	record HourlyDrops(String from, long drops) {
	}

	record Targets(double setupSeconds, double handshakeSuccessRate, double dropRate) {

		static final Targets SEED = new Targets(30, 0.99, 0.01);

	}

}
