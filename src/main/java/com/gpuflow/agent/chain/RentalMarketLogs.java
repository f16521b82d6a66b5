package com.gpuflow.agent.chain;

import com.gpuflow.agent.rental.RentalEvent;
import java.math.BigInteger;
import java.time.Instant;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;

import org.web3j.abi.EventEncoder;
import org.web3j.abi.TypeReference;
import org.web3j.abi.datatypes.Address;
import org.web3j.abi.datatypes.Event;
import org.web3j.abi.datatypes.generated.Bytes32;
import org.web3j.abi.datatypes.generated.Uint256;
import org.web3j.abi.datatypes.generated.Uint64;

/**
 * The RentalMarket events of the SPEC and a strict decoder for their logs. A log that does not
 * have exactly the expected shape is refused with a reason rather than half-decoded.
 */
public final class RentalMarketLogs {

	public static final Event RENTAL_CREATED = new Event("RentalCreated",
			List.of(new TypeReference<Uint256>(true) {
			}, new TypeReference<Bytes32>(true) {
			}, new TypeReference<Address>(true) {
			}, new TypeReference<Uint64>() {
			}, new TypeReference<Uint64>() {
			}, new TypeReference<Bytes32>() {
			}));

	public static final Event RENTAL_EXTENDED = new Event("RentalExtended", List.of(new TypeReference<Uint256>(true) {
	}, new TypeReference<Uint64>() {
	}));

	public static final Event RENTAL_ENDED = new Event("RentalEnded", List.of(new TypeReference<Uint256>(true) {
	}, new TypeReference<Uint64>() {
	}));

	public static final String CREATED_TOPIC = EventEncoder.encode(RENTAL_CREATED);

	public static final String EXTENDED_TOPIC = EventEncoder.encode(RENTAL_EXTENDED);

	public static final String ENDED_TOPIC = EventEncoder.encode(RENTAL_ENDED);

	public static final List<String> TOPICS = List.of(CREATED_TOPIC, EXTENDED_TOPIC, ENDED_TOPIC);

	private static final BigInteger UINT64_MAX = BigInteger.ONE.shiftLeft(64).subtract(BigInteger.ONE);

	private RentalMarketLogs() {
	}

	/** Thrown for a log of one of our event signatures that does not decode. */
	public static final class UndecodableLogException extends Exception {

		UndecodableLogException(String reason) {
			super(reason);
		}

	}

	/**
	 * @return the decoded event, or null when the log is not one of the three rental events
	 * (another event of the contract, such as HostRegistered)
	 */
	public static RentalEvent decode(ChainLog log) throws UndecodableLogException {
		List<String> topics = log.topics();
		if (topics == null || topics.isEmpty()) {
			return null;
		}
		// A null topic (a node's JSON "topics": [null]) threw NullPointerException here, which ingestion
		// took for a node error and retried forever: the log must be refused like any other garbage.
		expect(topics.get(0) != null, "event signature topic is null");
		String signature = topics.get(0).toLowerCase(Locale.ROOT);
		byte[] data = hex(log.data(), "data");
		if (signature.equals(CREATED_TOPIC)) {
			expect(topics.size() == 4, "RentalCreated needs 4 topics, has " + topics.size());
			expect(data.length == 96, "RentalCreated data must be 96 bytes, is " + data.length);
			BigInteger rentalId = word(topic(topics.get(1)), 0);
			String hostId = "0x" + HexFormat.of().formatHex(topic(topics.get(2)));
			byte[] renterWord = topic(topics.get(3));
			for (int i = 0; i < 12; i++) {
				expect(renterWord[i] == 0, "renter topic is not an address");
			}
			String renter = "0x" + HexFormat.of().formatHex(renterWord, 12, 32);
			Instant startsAt = seconds(word(data, 0));
			Instant endsAt = seconds(word(data, 1));
			expect(!endsAt.isBefore(startsAt), "endsAt before startsAt");
			byte[] key = new byte[32];
			System.arraycopy(data, 64, key, 0, 32);
			return new RentalEvent.Created(rentalId, hostId, renter, startsAt, endsAt, key);
		}
		if (signature.equals(EXTENDED_TOPIC) || signature.equals(ENDED_TOPIC)) {
			boolean extended = signature.equals(EXTENDED_TOPIC);
			String name = extended ? "RentalExtended" : "RentalEnded";
			expect(topics.size() == 2, name + " needs 2 topics, has " + topics.size());
			expect(data.length == 32, name + " data must be 32 bytes, is " + data.length);
			BigInteger rentalId = word(topic(topics.get(1)), 0);
			Instant at = seconds(word(data, 0));
			return extended ? new RentalEvent.Extended(rentalId, at) : new RentalEvent.Ended(rentalId, at);
		}
		return null;
	}

	private static Instant seconds(BigInteger value) throws UndecodableLogException {
		expect(value.compareTo(UINT64_MAX) <= 0, "timestamp does not fit uint64");
		// Instant cannot hold every uint64; such a value is garbage for a rental anyway.
		expect(value.bitLength() < 40, "timestamp " + value + " is beyond any plausible date");
		return Instant.ofEpochSecond(value.longValueExact());
	}

	private static BigInteger word(byte[] data, int index) {
		byte[] word = new byte[32];
		System.arraycopy(data, index * 32, word, 0, 32);
		return new BigInteger(1, word);
	}

	private static byte[] topic(String topic) throws UndecodableLogException {
		byte[] bytes = hex(topic, "topic");
		expect(bytes.length == 32, "a topic has 32 bytes, this has " + bytes.length);
		return bytes;
	}

	private static byte[] hex(String value, String what) throws UndecodableLogException {
		expect(value != null && value.startsWith("0x") && value.length() % 2 == 0, what + " is not 0x-hex");
		try {
			return HexFormat.of().parseHex(value, 2, value.length());
		}
		catch (IllegalArgumentException e) {
			throw new UndecodableLogException(what + " is not hex");
		}
	}

	private static void expect(boolean condition, String reason) throws UndecodableLogException {
		if (!condition) {
			throw new UndecodableLogException(reason);
		}
	}

}
