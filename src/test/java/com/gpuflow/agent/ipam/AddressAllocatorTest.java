package com.gpuflow.agent.ipam;

import java.util.HashSet;
import java.util.OptionalLong;
import java.util.Set;

import com.gpuflow.agent.config.TunnelNetwork;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

class AddressAllocatorTest {

	final TunnelNetwork network = TunnelNetwork.parse("10.77.0.0/24");

	@Test
	void firstAllocationSkipsTheServerAddress() {
		assertThat(next(OptionalLong.empty(), Set.of())).isEqualTo("10.77.0.2");
	}

	@Test
	void continuesAfterTheLastHandedOutInsteadOfReusingALowerFreeOne() {
		assertThat(next(OptionalLong.of(TunnelNetwork.parseAddress("10.77.0.9")), Set.of())).isEqualTo("10.77.0.10");
	}

	@Test
	void skipsUnavailableAddresses() {
		Set<Long> taken = Set.of(TunnelNetwork.parseAddress("10.77.0.10"), TunnelNetwork.parseAddress("10.77.0.11"));
		assertThat(next(OptionalLong.of(TunnelNetwork.parseAddress("10.77.0.9")), taken)).isEqualTo("10.77.0.12");
	}

	@Test
	void wrapsAroundAndNeverHandsOutBroadcastOrServer() {
		OptionalLong last = OptionalLong.of(TunnelNetwork.parseAddress("10.77.0.254"));
		assertThat(next(last, Set.of())).isEqualTo("10.77.0.2");
		assertThat(next(OptionalLong.of(TunnelNetwork.parseAddress("10.77.0.253")), Set.of())).isEqualTo("10.77.0.254");
	}

	@Test
	void aFullPoolGivesNothing() {
		Set<Long> taken = new HashSet<>();
		for (long a = network.firstRenterAddress(); a <= network.lastRenterAddress(); a++) {
			taken.add(a);
		}
		assertThat(AddressAllocator.next(network, OptionalLong.empty(), taken::contains)).isEmpty();
		taken.remove(TunnelNetwork.parseAddress("10.77.0.100"));
		assertThat(next(OptionalLong.of(TunnelNetwork.parseAddress("10.77.0.200")), taken)).isEqualTo("10.77.0.100");
	}

	@Test
	void aCursorOutsideTheNetworkStartsAtTheBeginning() {
		assertThat(next(OptionalLong.of(TunnelNetwork.parseAddress("192.168.1.7")), Set.of())).isEqualTo("10.77.0.2");
	}

	@Test
	void handsOutEveryAddressOfASlash30Pool() {
		TunnelNetwork tiny = TunnelNetwork.parse("172.16.5.0/30");
		assertThat(tiny.renterCapacity()).isEqualTo(1);
		assertThat(TunnelNetwork.toDotted(AddressAllocator.next(tiny, OptionalLong.empty(), a -> false).getAsLong()))
			.isEqualTo("172.16.5.2");
	}

	private String next(OptionalLong last, Set<Long> taken) {
		return TunnelNetwork.toDotted(AddressAllocator.next(network, last, taken::contains).getAsLong());
	}

}
