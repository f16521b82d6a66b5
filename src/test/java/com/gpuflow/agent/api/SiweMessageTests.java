package com.gpuflow.agent.api;

import java.net.URI;
import java.time.Instant;
import java.util.List;
import java.util.Optional;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatIllegalArgumentException;

class SiweMessageTests {

	static final String ADDRESS = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

	static final String RESOURCE = "urn:gpuflow:rental:0x" + "ab".repeat(32) + ":42";

	static final Instant ISSUED = Instant.parse("2026-11-25T18:00:00Z");

	static SiweMessage issued() {
		return SiweMessage.issue("gpu.example.org", ADDRESS.toLowerCase(), "Sign in to get the WireGuard config of GPU rental 42.",
				URI.create("https://gpu.example.org:8082"), 31337, "a1B2c3D4e5F6g7H8i9J0k1L2", ISSUED,
				ISSUED.plusSeconds(300), RESOURCE);
	}

	static final String EXPECTED = """
			gpu.example.org wants you to sign in with your Ethereum account:
			0x70997970C51812dc3A010C7d01b50e0d17dc79C8

			Sign in to get the WireGuard config of GPU rental 42.

			URI: https://gpu.example.org:8082
			Version: 1
			Chain ID: 31337
			Nonce: a1B2c3D4e5F6g7H8i9J0k1L2
			Issued At: 2026-11-25T18:00:00Z
			Expiration Time: 2026-11-25T18:05:00Z
			Resources:
			- urn:gpuflow:rental:0x%s:42""".formatted("ab".repeat(32));

	@Test
	void issuedMessageFollowsTheEip4361LayoutWithAChecksummedAddress() {
		assertThat(issued().text()).isEqualTo(EXPECTED);
	}

	@Test
	void issuedMessageParsesBackToTheSameFields() {
		SiweMessage parsed = SiweMessage.parse(EXPECTED);
		assertThat(parsed).isEqualTo(issued());
		assertThat(parsed.text()).isEqualTo(EXPECTED);
	}

	@Test
	void issuedTimesAreWholeSeconds() {
		SiweMessage message = SiweMessage.issue("h", ADDRESS, "s", URI.create("http://h:1"), 1, "abcdefgh12",
				Instant.parse("2026-11-25T18:00:00.123456Z"), Instant.parse("2026-11-25T18:05:00.999Z"), "urn:x:y");
		assertThat(message.text()).contains("Issued At: 2026-11-25T18:00:00Z\nExpiration Time: 2026-11-25T18:05:00Z");
	}

	@Test
	void messageWithoutStatementHasTwoBlankLinesAndParses() {
		String text = "example.com wants you to sign in with your Ethereum account:\n" + ADDRESS + "\n\n\nURI: https://example.com\n"
				+ "Version: 1\nChain ID: 1\nNonce: 32891756\nIssued At: 2021-09-30T16:25:24Z";
		SiweMessage parsed = SiweMessage.parse(text);
		assertThat(parsed.statement()).isEmpty();
		assertThat(parsed.expirationTime()).isEmpty();
		assertThat(parsed.resources()).isEmpty();
		assertThat(parsed.text()).isEqualTo(text);
	}

	@Test
	void optionalFieldsOfTheEipAreParsedInOrder() {
		String text = "example.com wants you to sign in with your Ethereum account:\n" + ADDRESS + "\n\nHi.\n\n"
				+ "URI: https://example.com/login\nVersion: 1\nChain ID: 137\nNonce: 32891756\n"
				+ "Issued At: 2021-09-30T16:25:24+02:00\nExpiration Time: 2021-09-30T16:30:24.5Z\n"
				+ "Not Before: 2021-09-30T16:25:24Z\nRequest ID: req-1\nResources:\n- ipfs://bafy\n- https://example.com/a";
		SiweMessage parsed = SiweMessage.parse(text);
		assertThat(parsed.chainId()).isEqualTo(137);
		assertThat(parsed.issuedAt()).isEqualTo(Instant.parse("2021-09-30T14:25:24Z"));
		assertThat(parsed.expirationTime()).contains(Instant.parse("2021-09-30T16:30:24.5Z"));
		assertThat(parsed.notBefore()).contains(Instant.parse("2021-09-30T16:25:24Z"));
		assertThat(parsed.requestId()).contains("req-1");
		assertThat(parsed.resources()).containsExactly("ipfs://bafy", "https://example.com/a");
	}

	@Test
	void presentedNonceIsFoundEvenInAnEditedMessage() {
		String edited = EXPECTED.replace("Chain ID: 31337", "Chain ID: oops").replace("Version: 1\n", "");
		assertThat(SiweMessage.presentedNonce(edited)).contains("a1B2c3D4e5F6g7H8i9J0k1L2");
		assertThat(SiweMessage.presentedNonce("no nonce here")).isEmpty();
		assertThat(SiweMessage.presentedNonce("Nonce: short")).isEmpty();
	}

	@ParameterizedTest
	@ValueSource(strings = { "", "\n", "garbage" })
	void textsThatAreNotMessagesAreRefused(String text) {
		assertThatIllegalArgumentException().isThrownBy(() -> SiweMessage.parse(text));
	}

	@Test
	void eachDeviationFromTheGrammarIsRefused() {
		List<String> broken = List.of(
				EXPECTED.replace("\n", "\r\n"), // CRLF
				EXPECTED + "\n", // trailing newline
				EXPECTED.replace(" wants you to sign in", " would like you to sign in"),
				EXPECTED.replace("gpu.example.org wants", "gpu example.org wants"), // bad domain
				EXPECTED.replace(ADDRESS, ADDRESS.toLowerCase()), // not EIP-55
				EXPECTED.replace(ADDRESS, "0x70997970C51812dc3A010C7d01b50e0d17dc79c8"), // wrong checksum
				EXPECTED.replace(ADDRESS, ADDRESS.substring(0, 41)), // short address
				EXPECTED.replace(ADDRESS + "\n\n", ADDRESS + "\n"), // blank line missing
				EXPECTED.replace("rental 42.\n\n", "rental 42.\n"), // blank line after statement missing
				EXPECTED.replace("rental 42.", "rental 42.\u00e9"), // statement character outside the ABNF
				EXPECTED.replace("URI: https://gpu.example.org:8082", "URI: /relative"),
				EXPECTED.replace("URI: ", "Uri: "),
				EXPECTED.replace("Version: 1", "Version: 2"),
				EXPECTED.replace("Chain ID: 31337", "Chain ID: 0"),
				EXPECTED.replace("Chain ID: 31337", "Chain ID: 0x7a69"),
				EXPECTED.replace("Chain ID: 31337", "Chain ID: 99999999999999999999"),
				EXPECTED.replace("Nonce: a1B2c3D4e5F6g7H8i9J0k1L2", "Nonce: abc"),
				EXPECTED.replace("Nonce: a1B2c3D4e5F6g7H8i9J0k1L2", "Nonce: a1B2c3D4-e5F6g7H8"),
				EXPECTED.replace("Issued At: 2026-11-25T18:00:00Z", "Issued At: 2026-11-25 18:00:00"),
				EXPECTED.replace("Issued At: 2026-11-25T18:00:00Z", "Issued At: 2026-11-25T18:00:00"),
				EXPECTED.replace("Issued At: 2026-11-25T18:00:00Z", "Issued At: 2026-13-25T18:00:00Z"),
				EXPECTED.replace("Expiration Time: 2026-11-25T18:05:00Z", "Expiration Time: soon"),
				EXPECTED.replace("Nonce: a1B2c3D4e5F6g7H8i9J0k1L2\nIssued At: 2026-11-25T18:00:00Z",
						"Issued At: 2026-11-25T18:00:00Z\nNonce: a1B2c3D4e5F6g7H8i9J0k1L2"), // field order
				EXPECTED.replace("Resources:\n- ", "Resources:\n"),
				EXPECTED.replace("\n- urn:gpuflow", "\n- not a uri urn:gpuflow"),
				EXPECTED.replace("Resources:\n- urn:gpuflow:rental:0x" + "ab".repeat(32) + ":42", "Resources:"),
				EXPECTED + "\nExtra: field");
		for (String text : broken) {
			assertThatIllegalArgumentException().as(text).isThrownBy(() -> SiweMessage.parse(text));
		}
	}

	@Test
	void builderRefusesFieldsThatWouldBreakTheGrammar() {
		assertThatIllegalArgumentException().isThrownBy(() -> SiweMessage.issue("h", ADDRESS, "two\nlines",
				URI.create("http://h"), 1, "abcdefgh", ISSUED, ISSUED, "urn:x:y"));
		assertThatIllegalArgumentException().isThrownBy(() -> SiweMessage.issue("h", "0x1234", "s",
				URI.create("http://h"), 1, "abcdefgh", ISSUED, ISSUED, "urn:x:y"));
		assertThatIllegalArgumentException().isThrownBy(() -> new SiweMessage("h", ADDRESS, Optional.empty(),
				URI.create("http://h"), "1", 1, "abcdefgh", ISSUED, Optional.empty(), Optional.empty(),
				Optional.of("has space"), List.of()));
	}

}
