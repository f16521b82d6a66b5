package com.gpuflow.agent.chain;

import com.gpuflow.agent.rental.RentalEvent;
import java.math.BigInteger;
import java.time.Instant;
import java.util.List;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class RentalMarketLogsTest {

	static final String HOST = "0x" + "11".repeat(32);

	static final String RENTER = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8";

	static String word(long value) {
		return String.format("%064x", value);
	}

	static ChainLog log(List<String> topics, String data) {
		return new ChainLog(7, "0x" + "aa".repeat(32), "0x" + "bb".repeat(32), 3, "0xcontract", topics, data);
	}

	static List<String> createdTopics() {
		return List.of(RentalMarketLogs.CREATED_TOPIC, "0x" + word(42), HOST, "0x" + "00".repeat(12) + RENTER.substring(2));
	}

	@Test
	void decodesRentalCreated() throws Exception {
		String key = "cd".repeat(32);
		RentalEvent event = RentalMarketLogs.decode(log(createdTopics(), "0x" + word(1000) + word(4600) + key));
		assertThat(event).isInstanceOfSatisfying(RentalEvent.Created.class, created -> {
			assertThat(created.rentalId()).isEqualTo(BigInteger.valueOf(42));
			assertThat(created.hostId()).isEqualTo(HOST);
			assertThat(created.renter()).isEqualTo(RENTER);
			assertThat(created.startsAt()).isEqualTo(Instant.ofEpochSecond(1000));
			assertThat(created.endsAt()).isEqualTo(Instant.ofEpochSecond(4600));
			assertThat(created.renterGaveKey()).isTrue();
		});
	}

	@Test
	void aZeroKeyMeansTheAgentGeneratesOne() throws Exception {
		RentalEvent event = RentalMarketLogs.decode(log(createdTopics(), "0x" + word(1000) + word(4600) + "00".repeat(32)));
		assertThat(((RentalEvent.Created) event).renterGaveKey()).isFalse();
	}

	@Test
	void decodesExtendedAndEnded() throws Exception {
		assertThat(RentalMarketLogs.decode(log(List.of(RentalMarketLogs.EXTENDED_TOPIC, "0x" + word(5)), "0x" + word(9000))))
			.isEqualTo(new RentalEvent.Extended(BigInteger.valueOf(5), Instant.ofEpochSecond(9000)));
		assertThat(RentalMarketLogs.decode(log(List.of(RentalMarketLogs.ENDED_TOPIC, "0x" + word(5)), "0x" + word(8000))))
			.isEqualTo(new RentalEvent.Ended(BigInteger.valueOf(5), Instant.ofEpochSecond(8000)));
	}

	@Test
	void rentalIdsBeyondLongStillDecode() throws Exception {
		String huge = "0x" + "ff".repeat(32);
		RentalEvent event = RentalMarketLogs.decode(log(List.of(RentalMarketLogs.ENDED_TOPIC, huge), "0x" + word(8000)));
		assertThat(event.rentalId()).isEqualTo(BigInteger.ONE.shiftLeft(256).subtract(BigInteger.ONE));
	}

	@Test
	void otherEventsOfTheContractAreNotRentalEvents() throws Exception {
		assertThat(RentalMarketLogs.decode(log(List.of("0x" + "12".repeat(32)), "0x"))).isNull();
		assertThat(RentalMarketLogs.decode(log(List.of(), "0x"))).isNull();
	}

	@Test
	void malformedLogsAreRefusedWithAReason() {
		assertUndecodable(log(createdTopics(), "0x" + word(1)), "96 bytes");
		assertUndecodable(log(createdTopics().subList(0, 3), "0x" + word(1) + word(2) + word(3)), "4 topics");
		assertUndecodable(log(createdTopics(), "0x" + word(5000) + word(4000) + word(0)), "endsAt before startsAt");
		assertUndecodable(log(createdTopics(), "0xzz"), "not hex");
		assertUndecodable(log(createdTopics(), "1234"), "0x-hex");
		assertUndecodable(log(List.of(RentalMarketLogs.CREATED_TOPIC, "0x" + word(42), HOST, "0x" + "ff".repeat(32)),
				"0x" + word(1000) + word(4600) + word(0)), "not an address");
		assertUndecodable(log(List.of(RentalMarketLogs.ENDED_TOPIC, "0x" + word(5)), "0x" + "ff".repeat(32)), "uint64");
		assertUndecodable(log(List.of(RentalMarketLogs.EXTENDED_TOPIC, "0x1234"), "0x" + word(1)), "32 bytes");
		assertUndecodable(log(java.util.Arrays.asList((String) null), "0x" + word(1)), "signature topic is null");
		assertUndecodable(log(java.util.Arrays.asList(RentalMarketLogs.ENDED_TOPIC, null), "0x" + word(1)), "not 0x-hex");
	}

	private static void assertUndecodable(ChainLog chainLog, String reason) {
		assertThatThrownBy(() -> RentalMarketLogs.decode(chainLog))
			.isInstanceOf(RentalMarketLogs.UndecodableLogException.class)
			.hasMessageContaining(reason);
	}

}
