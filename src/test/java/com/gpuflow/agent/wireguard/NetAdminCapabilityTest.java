package com.gpuflow.agent.wireguard;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The capability sets below are what /proc/self/status shows in each way of starting the image
 * (Docker's defaults plus NET_ADMIN are 0x00000000a80435fb; NET_ADMIN is bit 12, 0x1000).
 */
class NetAdminCapabilityTest {

	private static final String DOCKER_DEFAULT_PLUS_NET_ADMIN = "00000000a80435fb";

	private static final String NET_ADMIN_ONLY = "0000000000001000";

	private static final String NONE = "0000000000000000";

	private static String status(int uid, String effective, String bounding, String ambient) {
		return "Name:\tjava\nUmask:\t0022\nState:\tS (sleeping)\n"
				+ "Uid:\t" + uid + "\t" + uid + "\t" + uid + "\t" + uid + "\n"
				+ "Gid:\t" + uid + "\t" + uid + "\t" + uid + "\t" + uid + "\n"
				+ "CapInh:\t" + NONE + "\nCapPrm:\t" + effective + "\nCapEff:\t" + effective + "\n"
				+ "CapBnd:\t" + bounding + "\nCapAmb:\t" + ambient + "\nNoNewPrivs:\t1\n";
	}

	@Test
	void rootWithNetAdminInItsBoundingSetPassesItToItsChildren() {
		String root = status(0, DOCKER_DEFAULT_PLUS_NET_ADMIN, DOCKER_DEFAULT_PLUS_NET_ADMIN, NONE);

		assertThat(NetAdminCapability.missingForChildren(root)).isEmpty();
	}

	@Test
	void rootWithoutNetAdminIsToldToGrantIt() {
		String root = status(0, "00000000a80425fb", "00000000a80425fb", NONE);

		assertThat(NetAdminCapability.missingForChildren(root)).hasValueSatisfying(
				reason -> assertThat(reason).contains("root").contains("--cap-add NET_ADMIN"));
	}

	@Test
	void theServiceUserWithNetAdminAmbientAsTheEntrypointLeavesItPasses() {
		String dropped = status(10001, NET_ADMIN_ONLY, DOCKER_DEFAULT_PLUS_NET_ADMIN, NET_ADMIN_ONLY);

		assertThat(NetAdminCapability.missingForChildren(dropped)).isEmpty();
	}

	@Test
	void aNonRootStartUnderDockerRulesIsRefusedEvenWithNetAdminEffective() {
		// docker run --user 10001 --cap-add NET_ADMIN: bounding set has it, ambient does not; an
		// effective NET_ADMIN (a file capability on java) would not reach ip, wg or nft either.
		String dockerNonRoot = status(10001, NET_ADMIN_ONLY, DOCKER_DEFAULT_PLUS_NET_ADMIN, NONE);

		assertThat(NetAdminCapability.missingForChildren(dockerNonRoot)).hasValueSatisfying(
				reason -> assertThat(reason).contains("uid 10001").contains("ambient").contains("start the image as root"));
	}

	@Test
	void aStatusWithoutCapabilityLinesDefersToTheFirstCommand() {
		assertThat(NetAdminCapability.missingForChildren("Name:\tjava\n")).isEmpty();
	}

}
