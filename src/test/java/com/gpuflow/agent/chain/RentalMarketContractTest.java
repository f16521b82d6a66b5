package com.gpuflow.agent.chain;

import java.math.BigInteger;
import java.util.List;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.web3j.abi.FunctionReturnDecoder;
import org.web3j.abi.datatypes.Function;
import org.web3j.abi.datatypes.Type;
import org.web3j.protocol.core.methods.response.Log;
import org.web3j.protocol.core.methods.response.TransactionReceipt;
import org.web3j.utils.Numeric;

import com.gpuflow.agent.testsupport.AnvilNode;
import com.gpuflow.agent.testsupport.DevAccounts;
import com.gpuflow.agent.testsupport.RentalMarketClient;
import com.gpuflow.agent.testsupport.RentalMarketClient.RentalCreated;
import com.gpuflow.agent.testsupport.RentalMarketClient.RentalEnded;
import com.gpuflow.agent.testsupport.RentalMarketClient.RentalExtended;

import static com.gpuflow.agent.testsupport.RentalMarketClient.ZERO_KEY;
import static com.gpuflow.agent.testsupport.RentalMarketClient.endRentalFunction;
import static com.gpuflow.agent.testsupport.RentalMarketClient.extendFunction;
import static com.gpuflow.agent.testsupport.RentalMarketClient.registerHostFunction;
import static com.gpuflow.agent.testsupport.RentalMarketClient.rentFunction;
import static com.gpuflow.agent.testsupport.RentalMarketClient.setHostEndpointFunction;
import static com.gpuflow.agent.testsupport.RentalMarketClient.withdrawFunction;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * The RentalMarket contract on a real anvil chain. One node for the class; every test starts from a
 * snapshot of a freshly deployed contract with one registered host, so tests do not see each
 * other's rentals.
 */
class RentalMarketContractTest {

	static final int PROVIDER = DevAccounts.PROVIDER;

	static final int RENTER = 1;

	static final int OTHER_RENTER = 2;

	static final int STRANGER = 3;

	static final BigInteger PRICE = BigInteger.valueOf(1_000_000_000L); // wei per second

	static final String HOST = RentalMarketClient.hostId("gpu-host-1");

	static final String RENTER_KEY = "0x" + "ab".repeat(32);

	static AnvilNode anvil;

	static RentalMarketClient market;

	static String fresh;

	@BeforeAll
	static void deploy() {
		anvil = AnvilNode.startDefault();
		market = RentalMarketClient.deploy(anvil);
		market.registerHost(HOST, PRICE);
		fresh = anvil.snapshot();
	}

	@BeforeEach
	void resetChain() {
		// a snapshot can be reverted to once, so take a new one right after
		assertThat(anvil.revert(fresh)).isTrue();
		fresh = anvil.snapshot();
	}

	@AfterAll
	static void stopNode() {
		if (anvil != null) {
			anvil.close();
		}
	}

	@Nested
	class Registration {

		@Test
		void registeringMakesTheCallerTheProviderAndEmitsHostRegistered() {
			String host = RentalMarketClient.hostId("gpu-host-2");

			TransactionReceipt receipt = market.registerHost(OTHER_RENTER, host, BigInteger.valueOf(7));

			assertThat(receipt.isStatusOK()).isTrue();
			assertThat(market.providerOf(host)).isEqualToIgnoringCase(DevAccounts.address(OTHER_RENTER));
			assertThat(market.pricePerSecond(host)).isEqualTo(7);
			Log log = only(receipt, RentalMarketClient.HOST_REGISTERED);
			assertThat(log.getTopics().get(1)).isEqualTo(host);
			assertThat(address(log.getTopics().get(2))).isEqualToIgnoringCase(DevAccounts.address(OTHER_RENTER));
			assertThat(Numeric.toBigInt(log.getData())).isEqualTo(7);
		}

		@Test
		void theProviderCanRepriceItsHostAndNobodyElseCanTakeIt() {
			assertThat(market.registerHost(PROVIDER, HOST, BigInteger.TEN).isStatusOK()).isTrue();
			assertThat(market.pricePerSecond(HOST)).isEqualTo(10);

			assertThat(market.revertError(STRANGER, registerHostFunction(HOST, BigInteger.ONE), BigInteger.ZERO))
				.contains("HostTaken");
			assertThat(market.registerHost(STRANGER, HOST, BigInteger.ONE).isStatusOK()).isFalse();
			assertThat(market.providerOf(HOST)).isEqualToIgnoringCase(DevAccounts.address(PROVIDER));
			assertThat(market.pricePerSecond(HOST)).isEqualTo(10);
		}

		@Test
		void rentingAnUnknownHostReverts() {
			Function rent = rentFunction(RentalMarketClient.hostId("nobody"), 60, ZERO_KEY);
			assertThat(market.revertError(RENTER, rent, PRICE.multiply(BigInteger.valueOf(60))))
				.contains("UnknownHost");
		}

	}

	@Nested
	class HostEndpoint {

		static final String PIN = "0x" + "5a".repeat(32);

		@Test
		void anUnpublishedHostHasAnEmptyUrlAndAZeroPin() {
			assertThat(market.hostEndpoint(HOST)).isEqualTo(new RentalMarketClient.HostEndpoint("", ZERO_KEY));
		}

		@Test
		void theProviderPublishesUrlAndPinAndHostEndpointSetCarriesThem() {
			TransactionReceipt receipt = market.setHostEndpoint(PROVIDER, HOST, "https://gpu-1.example.org:8082", PIN);

			assertThat(receipt.isStatusOK()).isTrue();
			assertThat(market.hostEndpoint(HOST))
				.isEqualTo(new RentalMarketClient.HostEndpoint("https://gpu-1.example.org:8082", PIN));
			Log log = only(receipt, RentalMarketClient.HOST_ENDPOINT_SET);
			assertThat(log.getTopics().get(1)).isEqualTo(HOST);
			List<Type> data = FunctionReturnDecoder.decode(log.getData(),
					RentalMarketClient.HOST_ENDPOINT_SET.getNonIndexedParameters());
			assertThat(data.get(0).getValue()).isEqualTo("https://gpu-1.example.org:8082");
			assertThat(Numeric.toHexString((byte[]) data.get(1).getValue())).isEqualTo(PIN);
		}

		@Test
		void theProviderCanChangeItAndNobodyElseCan() {
			market.setHostEndpoint(PROVIDER, HOST, "https://old.example.org", PIN);
			assertThat(market.setHostEndpoint(PROVIDER, HOST, "https://new.example.org", ZERO_KEY).isStatusOK()).isTrue();
			assertThat(market.hostEndpoint(HOST).apiUrl()).isEqualTo("https://new.example.org");

			Function hijack = setHostEndpointFunction(HOST, "https://evil.example.org", PIN);
			assertThat(market.revertError(STRANGER, hijack, BigInteger.ZERO)).contains("NotProvider");
			assertThat(market.setHostEndpoint(RENTER, HOST, "https://evil.example.org", PIN).isStatusOK()).isFalse();
			assertThat(market.hostEndpoint(HOST)).isEqualTo(new RentalMarketClient.HostEndpoint("https://new.example.org",
					ZERO_KEY));
		}

		@Test
		void anUnknownHostAndAnOverlongUrlRevert() {
			assertThat(market.revertError(PROVIDER,
					setHostEndpointFunction(RentalMarketClient.hostId("nobody"), "https://x.example.org", PIN),
					BigInteger.ZERO))
				.contains("UnknownHost");
			assertThat(market.revertError(PROVIDER, setHostEndpointFunction(HOST, "https://" + "a".repeat(600), PIN),
					BigInteger.ZERO))
				.contains("ApiUrlTooLong");
			assertThat(market.setHostEndpoint(PROVIDER, HOST, "https://" + "a".repeat(504), PIN).isStatusOK())
				.as("exactly 512 bytes").isTrue();
		}

	}

	@Nested
	class Renting {

		@Test
		void rentalIdsStartAtOneAndCountUp() {
			assertThat(market.rentalCount()).isZero();

			RentalCreated first = market.rent(RENTER, HOST, 60, ZERO_KEY);
			RentalCreated second = market.rent(OTHER_RENTER, HOST, 60, ZERO_KEY);

			assertThat(first.rentalId()).isEqualTo(1);
			assertThat(second.rentalId()).isEqualTo(2);
			assertThat(market.rentalCount()).isEqualTo(2);
		}

		@Test
		void rentEmitsRentalCreatedStartingAtTheBlockTimestampForTheDuration() {
			RentalCreated rental = market.rent(RENTER, HOST, 3600, RENTER_KEY);

			long blockTime = Numeric.decodeQuantity(anvil.block(rental.blockNumber()).get("timestamp").asText())
				.longValueExact();
			assertThat(rental.startsAt()).isEqualTo(blockTime);
			assertThat(rental.endsAt()).isEqualTo(blockTime + 3600);
			assertThat(rental.hostId()).isEqualTo(HOST);
			assertThat(rental.renter()).isEqualToIgnoringCase(DevAccounts.address(RENTER));
			assertThat(rental.renterWgPublicKey()).isEqualTo(RENTER_KEY);
			assertThat(market.isActive(rental.rentalId())).isTrue();
		}

		@Test
		void aZeroKeyIsPassedThroughForTheAgentToGenerateOne() {
			RentalCreated rental = market.rent(RENTER, HOST, 60, ZERO_KEY);

			assertThat(rental.renterWgPublicKey()).isEqualTo(ZERO_KEY);
		}

		@Test
		void payingLessThanThePriceReverts() {
			BigInteger price = PRICE.multiply(BigInteger.valueOf(60));
			Function rent = rentFunction(HOST, 60, ZERO_KEY);

			assertThat(market.revertError(RENTER, rent, price.subtract(BigInteger.ONE))).contains("InsufficientPayment");
			TransactionReceipt receipt = market.send(RENTER, rent, price.subtract(BigInteger.ONE));

			assertThat(receipt.isStatusOK()).isFalse();
			assertThat(receipt.getLogs()).isEmpty();
			assertThat(market.rentalCount()).isZero();
			assertThat(market.balanceOf(DevAccounts.address(PROVIDER))).isZero();
		}

		@Test
		void aZeroDurationReverts() {
			assertThat(market.revertError(RENTER, rentFunction(HOST, 0, ZERO_KEY), PRICE)).contains("ZeroDuration");
		}

		@Test
		void theExcessIsRefundedToThePullBalanceAndWithdrawPaysItOut() {
			BigInteger price = PRICE.multiply(BigInteger.valueOf(60));
			BigInteger excess = RentalMarketClient.ETHER;

			market.rent(RENTER, HOST, 60, ZERO_KEY, price.add(excess));
			assertThat(market.balanceOf(DevAccounts.address(RENTER))).isEqualTo(excess);

			BigInteger before = market.ethBalance(DevAccounts.address(RENTER));
			TransactionReceipt withdrawal = market.withdraw(RENTER);
			assertThat(withdrawal.isStatusOK()).isTrue();
			BigInteger gas = fee(withdrawal);
			assertThat(market.ethBalance(DevAccounts.address(RENTER))).isEqualTo(before.add(excess).subtract(gas));
			assertThat(market.balanceOf(DevAccounts.address(RENTER))).isZero();
			Log log = only(withdrawal, RentalMarketClient.WITHDRAWN);
			assertThat(Numeric.toBigInt(log.getData())).isEqualTo(excess);
			assertThat(market.revertError(RENTER, withdrawFunction(), BigInteger.ZERO)).contains("NothingToWithdraw");
		}

	}

	@Nested
	class Extending {

		@Test
		void theRenterExtendsAnActiveRentalAndRentalExtendedCarriesTheNewEnd() {
			RentalCreated rental = market.rent(RENTER, HOST, 600, ZERO_KEY);

			TransactionReceipt receipt = market.extend(RENTER, rental.rentalId(), 300,
					PRICE.multiply(BigInteger.valueOf(300)));

			assertThat(receipt.isStatusOK()).isTrue();
			assertThat(RentalMarketClient.rentalsExtended(receipt))
				.containsExactly(new RentalExtended(rental.rentalId(), rental.endsAt() + 300));
			assertThat(market.balanceOf(DevAccounts.address(RENTER))).isZero();
		}

		@Test
		void extendingRequiresThePriceOfTheExtraTime() {
			RentalCreated rental = market.rent(RENTER, HOST, 600, ZERO_KEY);

			assertThat(market.revertError(RENTER, extendFunction(rental.rentalId(), 300),
					PRICE.multiply(BigInteger.valueOf(300)).subtract(BigInteger.ONE)))
				.contains("InsufficientPayment");
		}

		@Test
		void onlyTheRenterCanExtend() {
			RentalCreated rental = market.rent(RENTER, HOST, 600, ZERO_KEY);
			BigInteger price = PRICE.multiply(BigInteger.valueOf(300));

			assertThat(market.revertError(PROVIDER, extendFunction(rental.rentalId(), 300), price)).contains("NotRenter");
			assertThat(market.revertError(STRANGER, extendFunction(rental.rentalId(), 300), price)).contains("NotRenter");
			TransactionReceipt receipt = market.extend(STRANGER, rental.rentalId(), 300, price);
			assertThat(receipt.isStatusOK()).isFalse();
			assertThat(receipt.getLogs()).isEmpty();
		}

		@Test
		void anExpiredRentalCannotBeExtended() {
			RentalCreated rental = market.rent(RENTER, HOST, 600, ZERO_KEY);
			anvil.increaseTime(600);
			anvil.mine(1);

			assertThat(market.isActive(rental.rentalId())).isFalse();
			assertThat(market.revertError(RENTER, extendFunction(rental.rentalId(), 60),
					PRICE.multiply(BigInteger.valueOf(60))))
				.contains("RentalNotActive");
		}

		@Test
		void anEndedRentalCannotBeExtended() {
			RentalCreated rental = market.rent(RENTER, HOST, 600, ZERO_KEY);
			market.endRental(RENTER, rental.rentalId());

			assertThat(market.revertError(RENTER, extendFunction(rental.rentalId(), 60),
					PRICE.multiply(BigInteger.valueOf(60))))
				.contains("RentalNotActive");
		}

		@Test
		void anUnknownRentalCannotBeExtended() {
			assertThat(market.revertError(RENTER, extendFunction(BigInteger.valueOf(99), 60),
					PRICE.multiply(BigInteger.valueOf(60))))
				.contains("UnknownRental");
		}

	}

	@Nested
	class Ending {

		@Test
		void theRenterEndsAtOnceAndGetsTheUnusedTimeBack() {
			RentalCreated rental = market.rent(RENTER, HOST, 3600, ZERO_KEY);
			anvil.setNextBlockTimestamp(rental.startsAt() + 1000);

			TransactionReceipt receipt = market.endRental(RENTER, rental.rentalId());

			assertThat(receipt.isStatusOK()).isTrue();
			assertThat(RentalMarketClient.rentalsEnded(receipt))
				.containsExactly(new RentalEnded(rental.rentalId(), rental.startsAt() + 1000));
			assertThat(market.isActive(rental.rentalId())).isFalse();
			assertThat(market.balanceOf(DevAccounts.address(RENTER))).isEqualTo(PRICE.multiply(BigInteger.valueOf(2600)));
			assertThat(market.balanceOf(DevAccounts.address(PROVIDER))).isEqualTo(PRICE.multiply(BigInteger.valueOf(1000)));
		}

		@Test
		void theProviderCanEndARentalAndTheRenterIsRefunded() {
			RentalCreated rental = market.rent(RENTER, HOST, 3600, ZERO_KEY);
			anvil.setNextBlockTimestamp(rental.startsAt() + 600);

			TransactionReceipt receipt = market.endRental(PROVIDER, rental.rentalId());

			assertThat(RentalMarketClient.rentalsEnded(receipt))
				.containsExactly(new RentalEnded(rental.rentalId(), rental.startsAt() + 600));
			assertThat(market.balanceOf(DevAccounts.address(RENTER))).isEqualTo(PRICE.multiply(BigInteger.valueOf(3000)));
			assertThat(market.balanceOf(DevAccounts.address(PROVIDER))).isEqualTo(PRICE.multiply(BigInteger.valueOf(600)));
		}

		@Test
		void theProviderWithdrawsItsEarningsOfAnEndedRental() {
			RentalCreated rental = market.rent(RENTER, HOST, 3600, ZERO_KEY);
			anvil.setNextBlockTimestamp(rental.startsAt() + 100);
			market.endRental(RENTER, rental.rentalId());
			BigInteger before = market.ethBalance(DevAccounts.address(PROVIDER));

			TransactionReceipt withdrawal = market.withdraw(PROVIDER);

			assertThat(market.ethBalance(DevAccounts.address(PROVIDER)))
				.isEqualTo(before.add(PRICE.multiply(BigInteger.valueOf(100))).subtract(fee(withdrawal)));
			assertThat(market.balanceOf(DevAccounts.address(PROVIDER))).isZero();
		}

		@Test
		void aThirdPartyCannotEndARental() {
			RentalCreated rental = market.rent(RENTER, HOST, 3600, ZERO_KEY);

			assertThat(market.revertError(STRANGER, endRentalFunction(rental.rentalId()), BigInteger.ZERO))
				.contains("NotRenterOrProvider");
			assertThat(market.revertError(OTHER_RENTER, endRentalFunction(rental.rentalId()), BigInteger.ZERO))
				.contains("NotRenterOrProvider");
			assertThat(market.endRental(STRANGER, rental.rentalId()).isStatusOK()).isFalse();
			assertThat(market.isActive(rental.rentalId())).isTrue();
		}

		@Test
		void anEndedRentalCannotBeEndedAgain() {
			RentalCreated rental = market.rent(RENTER, HOST, 3600, ZERO_KEY);
			market.endRental(RENTER, rental.rentalId());
			BigInteger refund = market.balanceOf(DevAccounts.address(RENTER));

			assertThat(market.revertError(PROVIDER, endRentalFunction(rental.rentalId()), BigInteger.ZERO))
				.contains("RentalNotActive");
			assertThat(market.endRental(RENTER, rental.rentalId()).isStatusOK()).isFalse();
			assertThat(market.balanceOf(DevAccounts.address(RENTER))).isEqualTo(refund);
		}

		@Test
		void anExpiredRentalCannotBeEnded() {
			RentalCreated rental = market.rent(RENTER, HOST, 60, ZERO_KEY);
			anvil.increaseTime(61);
			anvil.mine(1);

			assertThat(market.revertError(RENTER, endRentalFunction(rental.rentalId()), BigInteger.ZERO))
				.contains("RentalNotActive");
		}

		@Test
		void endingAfterTheProviderWithdrewStillRefundsTheRenter() {
			// The original contract credited the whole payment to the provider at once and took the
			// refund back from that balance: after a withdrawal the subtraction underflowed and the
			// renter could no longer end the rental at all.
			RentalCreated rental = market.rent(RENTER, HOST, 3600, ZERO_KEY);
			RentalCreated second = market.rent(OTHER_RENTER, HOST, 3600, ZERO_KEY);
			anvil.setNextBlockTimestamp(second.startsAt() + 100);
			market.endRental(OTHER_RENTER, second.rentalId());
			assertThat(market.withdraw(PROVIDER).isStatusOK()).isTrue();

			anvil.setNextBlockTimestamp(rental.startsAt() + 1000);
			TransactionReceipt receipt = market.endRental(RENTER, rental.rentalId());

			assertThat(receipt.isStatusOK()).isTrue();
			assertThat(market.isActive(rental.rentalId())).isFalse();
			assertThat(market.balanceOf(DevAccounts.address(RENTER))).isEqualTo(PRICE.multiply(BigInteger.valueOf(2600)));
			assertThat(market.balanceOf(DevAccounts.address(PROVIDER))).isEqualTo(PRICE.multiply(BigInteger.valueOf(1000)));
		}

		@Test
		void settlingAnExpiredRentalCreditsTheWholePaymentToTheProviderOnce() {
			RentalCreated rental = market.rent(RENTER, HOST, 60, ZERO_KEY);
			market.extend(RENTER, rental.rentalId(), 40, PRICE.multiply(BigInteger.valueOf(40)));
			anvil.increaseTime(200);
			anvil.mine(1);

			assertThat(market.settle(STRANGER, List.of(rental.rentalId())).isStatusOK()).isTrue();
			assertThat(market.settle(STRANGER, List.of(rental.rentalId())).isStatusOK()).isTrue();

			assertThat(market.balanceOf(DevAccounts.address(PROVIDER))).isEqualTo(PRICE.multiply(BigInteger.valueOf(100)));
			assertThat(market.balanceOf(DevAccounts.address(RENTER))).isZero();
			assertThat(market.balanceOf(DevAccounts.address(STRANGER))).isZero();
		}

		@Test
		void anActiveRentalCannotBeSettledAndAnEndedOneIsAlreadySettled() {
			RentalCreated active = market.rent(RENTER, HOST, 3600, ZERO_KEY);
			RentalCreated ended = market.rent(OTHER_RENTER, HOST, 3600, ZERO_KEY);
			anvil.setNextBlockTimestamp(ended.startsAt() + 10);
			market.endRental(OTHER_RENTER, ended.rentalId());
			BigInteger earned = market.balanceOf(DevAccounts.address(PROVIDER));

			assertThat(market.revertError(PROVIDER, RentalMarketClient.settleFunction(List.of(active.rentalId())),
					BigInteger.ZERO))
				.contains("RentalStillActive");
			assertThat(market.settle(PROVIDER, List.of(ended.rentalId())).isStatusOK()).isTrue();
			assertThat(market.balanceOf(DevAccounts.address(PROVIDER))).isEqualTo(earned);
		}

		@Test
		void theProviderCannotWithdrawTimeThatIsNotUsedYet() {
			market.rent(RENTER, HOST, 3600, ZERO_KEY);

			assertThat(market.revertError(PROVIDER, withdrawFunction(), BigInteger.ZERO)).contains("NothingToWithdraw");
		}

	}

	static Log only(TransactionReceipt receipt, org.web3j.abi.datatypes.Event event) {
		List<Log> logs = receipt.getLogs().stream().filter((log) -> RentalMarketClient.is(log, event)).toList();
		assertThat(logs).hasSize(1);
		return logs.get(0);
	}

	static String address(String topic) {
		return "0x" + topic.substring(26);
	}

	static BigInteger fee(TransactionReceipt receipt) {
		return receipt.getGasUsed().multiply(Numeric.decodeQuantity(receipt.getEffectiveGasPrice()));
	}

}
