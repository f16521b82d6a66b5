package com.gpuflow.agent.wireguard;

import java.time.Clock;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.boot.actuate.health.Status;

import com.gpuflow.agent.testsupport.RenterNamespace;

import static org.assertj.core.api.Assertions.assertThat;

/** The agent's nftables table on a real interface: deleted or edited, the next pass puts it back. */
class FirewallConvergenceTest {

	final TestInterface wg = new TestInterface(Clock.systemUTC(), Duration.ofMinutes(10));

	@BeforeEach
	void interfaceUp() {
		wg.wireGuard.ensure();
		wg.reconciler.runPass();
	}

	@AfterEach
	void cleanUp() {
		wg.close();
	}

	String table() {
		return RenterNamespace.sh("nft", "list", "table", "inet", wg.wireGuard.nftTable());
	}

	double repairs() {
		return wg.meters.get("gpuflow.reconcile.drift.repairs").tag("kind", "firewall").counter().count();
	}

	@Test
	void aTableInPlaceIsLeftAloneAndNotCounted() {
		String before = RenterNamespace.sh("nft", "-a", "list", "table", "inet", wg.wireGuard.nftTable());

		wg.reconciler.runPass();

		assertThat(RenterNamespace.sh("nft", "-a", "list", "table", "inet", wg.wireGuard.nftTable()))
			.as("same handles: not re-installed")
			.isEqualTo(before);
		assertThat(repairs()).isZero();
		assertThat(new IsolationHealthIndicator(wg.reconciler).health().getStatus()).isEqualTo(Status.UP);
	}

	@Test
	void aDeletedTableIsRestoredByTheNextPassAndCounted() {
		String installed = IsolationRules.normalize(table());

		RenterNamespace.sh("nft", "delete", "table", "inet", wg.wireGuard.nftTable());
		assertThat(wg.wireGuard.isolationInstalled()).isFalse();
		wg.reconciler.runPass();

		assertThat(IsolationRules.normalize(table())).isEqualTo(installed);
		assertThat(repairs()).isEqualTo(1);
		var health = new IsolationHealthIndicator(wg.reconciler).health();
		assertThat(health.getStatus()).isEqualTo(Status.UP);
		assertThat(health.getDetails()).containsEntry("repairs", 1L).containsEntry("inPlace", true);
	}

	@Test
	void aHandEditedRuleIsRestoredByTheNextPass() {
		String installed = IsolationRules.normalize(table());
		Matcher rule = Pattern.compile("iifname \"" + wg.name + "\" counter packets \\d+ bytes \\d+ drop comment \"and no other address of the host\" # handle (\\d+)")
			.matcher(RenterNamespace.sh("nft", "-a", "list", "table", "inet", wg.wireGuard.nftTable()));
		assertThat(rule.find()).isTrue();

		RenterNamespace.sh("nft", "replace", "rule", "inet", wg.wireGuard.nftTable(), "input", "handle", rule.group(1), "iifname",
				wg.name, "accept");
		assertThat(IsolationRules.normalize(table())).isNotEqualTo(installed);
		wg.reconciler.runPass();

		assertThat(IsolationRules.normalize(table())).isEqualTo(installed);
		assertThat(repairs()).isEqualTo(1);
	}

	@Test
	void aRuleAddedToTheAgentsTableByHandIsRemoved() {
		String installed = IsolationRules.normalize(table());

		RenterNamespace.sh("nft", "insert", "rule", "inet", wg.wireGuard.nftTable(), "forward", "iifname", wg.name, "accept");
		wg.reconciler.runPass();

		assertThat(IsolationRules.normalize(table())).isEqualTo(installed);
		assertThat(repairs()).isEqualTo(1);
	}

}
