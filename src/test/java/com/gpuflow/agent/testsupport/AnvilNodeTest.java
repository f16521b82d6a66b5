package com.gpuflow.agent.testsupport;

import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.web3j.protocol.core.methods.response.TransactionReceipt;

import com.gpuflow.agent.testsupport.RentalMarketClient.RentalCreated;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatIllegalStateException;

class AnvilNodeTest {

	private static final String HOST = RentalMarketClient.hostId("anvil-node-test");

	@Test
	void devAccountsAreTheOnesAnvilFunds() {
		try (AnvilNode anvil = AnvilNode.startDefault()) {
			List<String> accounts = toList(anvil.rpc("eth_accounts"));
			assertThat(accounts).hasSize(10);
			for (int i = 0; i < 10; i++) {
				assertThat(DevAccounts.address(i)).isEqualToIgnoringCase(accounts.get(i));
			}
			assertThat(DevAccounts.provider().getEcKeyPair().getPrivateKey().toString(16))
				.isEqualTo("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80");
		}
	}

	@Test
	void closeKillsTheNode() throws Exception {
		AnvilNode anvil = AnvilNode.startDefault();
		anvil.close();
		assertThat(anvil.isRunning()).isFalse();
		assertThatIllegalStateException().isThrownBy(anvil::web3j);
		try (java.net.Socket socket = new java.net.Socket()) {
			assertThat(canConnect(socket, anvil.port())).isFalse();
		}
	}

	@Test
	void restartWithStateFileKeepsTheChainOnTheSamePort(@TempDir Path dir) {
		Path state = dir.resolve("anvil-state.json");
		try (AnvilNode anvil = AnvilNode.builder().stateFile(state).start()) {
			RentalMarketClient market = RentalMarketClient.deploy(anvil);
			market.registerHost(HOST, BigInteger.TWO);
			RentalCreated rental = market.rent(1, HOST, 600, RentalMarketClient.ZERO_KEY);
			long head = anvil.blockNumber();
			String headHash = anvil.blockHash(head);
			int port = anvil.port();

			anvil.stop();
			assertThat(anvil.isRunning()).isFalse();
			assertThat(Files.exists(state)).isTrue();
			anvil.start();

			assertThat(anvil.port()).isEqualTo(port);
			assertThat(anvil.blockNumber()).isEqualTo(head);
			assertThat(anvil.blockHash(head)).isEqualTo(headHash);
			assertThat(market.rentalCount()).isEqualTo(rental.rentalId());
			assertThat(market.rent(2, HOST, 60, RentalMarketClient.ZERO_KEY).rentalId()).isEqualTo(BigInteger.TWO);
		}
	}

	@Test
	void miningAndTimeTravel() {
		try (AnvilNode anvil = AnvilNode.startDefault()) {
			long start = anvil.blockNumber();
			long time = anvil.latestTimestamp();
			anvil.increaseTime(3600);
			anvil.mine(5);
			assertThat(anvil.blockNumber()).isEqualTo(start + 5);
			assertThat(anvil.latestTimestamp()).isGreaterThanOrEqualTo(time + 3600);

			String snapshot = anvil.snapshot();
			anvil.mine(3);
			assertThat(anvil.revert(snapshot)).isTrue();
			assertThat(anvil.blockNumber()).isEqualTo(start + 5);

			anvil.rollback(2);
			assertThat(anvil.blockNumber()).isEqualTo(start + 3);
		}
	}

	@Test
	void reorgReplacesBlocksAndDropsTheirTransactions() {
		try (AnvilNode anvil = AnvilNode.startDefault()) {
			RentalMarketClient market = RentalMarketClient.deploy(anvil);
			market.registerHost(HOST, BigInteger.ONE);
			RentalCreated orphan = market.rent(1, HOST, 600, RentalMarketClient.ZERO_KEY);
			anvil.mine(1);
			long head = anvil.blockNumber();
			String oldHash = anvil.blockHash(orphan.blockNumber());

			String replacement = market.sign(2, RentalMarketClient.rentFunction(HOST, 60, RentalMarketClient.ZERO_KEY),
					BigInteger.valueOf(60), market.pendingNonce(2));
			anvil.reorg(2, List.of(AnvilNode.ReorgTx.raw(replacement, 1)));

			assertThat(anvil.blockNumber()).isEqualTo(head);
			assertThat(anvil.blockHash(orphan.blockNumber())).isNotEqualTo(oldHash);
			assertThat(market.receipt(orphan.transactionHash())).isEmpty();
			assertThatIllegalStateException()
				.isThrownBy(() -> market.awaitReceipt(orphan.transactionHash(), Duration.ofMillis(300)));
			// the replacement took the orphan's rental id, one block later
			assertThat(market.rentalCount()).isEqualTo(BigInteger.ONE);
			TransactionReceipt receipt = market.awaitReceipt(org.web3j.crypto.Hash.sha3(replacement), Duration.ofSeconds(5));
			RentalCreated reborn = RentalMarketClient.rentalsCreated(receipt).get(0);
			assertThat(reborn.rentalId()).isEqualTo(orphan.rentalId());
			assertThat(reborn.renter()).isEqualToIgnoringCase(DevAccounts.address(2));
			assertThat(reborn.blockNumber()).isEqualTo(orphan.blockNumber() + 1);
		}
	}

	@Test
	void rentManyCreatesThousandsOfRentals() {
		try (AnvilNode anvil = AnvilNode.builder().gasLimit(1_000_000_000L).start()) {
			RentalMarketClient market = RentalMarketClient.deploy(anvil);
			market.registerHost(HOST, BigInteger.ONE);
			// many transactions per block: rentMany mines by hand when nothing else does
			anvil.setAutomine(false);
			long started = System.nanoTime();
			List<RentalCreated> rentals = market.rentMany(2000, HOST, 3600, 10, (i) -> RentalMarketClient.ZERO_KEY,
					Duration.ofSeconds(120));
			System.out.printf("2000 rentals in %d ms%n", (System.nanoTime() - started) / 1_000_000);
			assertThat(rentals).hasSize(2000);
			assertThat(rentals).extracting(RentalCreated::rentalId)
				.doesNotHaveDuplicates()
				.allMatch((id) -> id.signum() > 0 && id.compareTo(BigInteger.valueOf(2000)) <= 0);
			assertThat(market.rentalCount()).isEqualTo(BigInteger.valueOf(2000));
		}
	}

	private static boolean canConnect(java.net.Socket socket, int port) {
		try {
			socket.connect(new java.net.InetSocketAddress("127.0.0.1", port), 500);
			return true;
		}
		catch (java.io.IOException e) {
			return false;
		}
	}

	private static List<String> toList(com.fasterxml.jackson.databind.JsonNode array) {
		List<String> values = new java.util.ArrayList<>();
		array.forEach((node) -> values.add(node.asText()));
		return values;
	}

}
