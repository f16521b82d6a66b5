package com.gpuflow.agent.wireguard;

import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class IsolationRulesTest {

	final IsolationRules.Spec spec = new IsolationRules.Spec("gpuflow_wg0", "wg0", "10.77.0.1/16", 9082);

	final String table = IsolationRules.table(spec);

	@Nested
	class WhatArrivesFromTheTunnel {

		@Test
		void mustComeFromTheTunnelNetworkAndNotClaimTheServerAddress() {
			assertThat(table).contains("iifname \"wg0\" ip saddr != 10.77.0.0/16 counter drop")
				.contains("iifname \"wg0\" ip saddr 10.77.0.1 counter drop");
		}

		@Test
		void reachesTheServerAddressButNotItsManagementPort() {
			assertThat(table.indexOf("ip daddr 10.77.0.1 tcp dport 9082 counter drop"))
				.as("the management port drop comes before the accept of the server address")
				.isPositive()
				.isLessThan(table.indexOf("ip daddr 10.77.0.1 accept"));
		}

		@Test
		void reachesNoOtherAddressOfTheHost() {
			String input = table.substring(table.indexOf("chain input"), table.indexOf("chain forward"));
			String lastRule = input.strip().lines().map(String::strip).filter(l -> l.startsWith("iifname")).reduce((x, y) -> y).orElseThrow();
			assertThat(lastRule).startsWith("iifname \"wg0\" counter drop");
		}

		@Test
		void carriesIpv4Only() {
			assertThat(table).contains("iifname \"wg0\" meta nfproto != ipv4 counter drop");
		}

		@Test
		void repliesToTheHostsOwnConnectionsPassBeforeTheFinalDrop() {
			int established = table.indexOf("ct state established,related accept");
			assertThat(established).isPositive()
				.isGreaterThan(table.indexOf("ip saddr 10.77.0.1 counter drop"))
				.isLessThan(table.indexOf("iifname \"wg0\" counter drop comment \"and no other"));
		}

	}

	@Test
	void nothingIsForwardedOutOfOrIntoTheTunnel() {
		String forward = table.substring(table.indexOf("chain forward"));
		assertThat(forward).contains("type filter hook forward priority filter; policy accept;")
			.contains("iifname \"wg0\" counter drop")
			.contains("oifname \"wg0\" counter drop");
	}

	@Test
	void theTunnelNetworkIsDerivedFromTheServerAddressAndItsPrefix() {
		assertThat(new IsolationRules.Spec("t", "wg0", "10.213.7.1/24", 1).network()).isEqualTo("10.213.7.0/24");
		assertThat(new IsolationRules.Spec("t", "wg0", "10.77.0.1/16", 1).network()).isEqualTo("10.77.0.0/16");
		assertThat(new IsolationRules.Spec("t", "wg0", "172.16.8.1/13", 1).network()).isEqualTo("172.16.0.0/13");
	}

	@Test
	void theReplacementCreatesDeletesAndAddsTheTableInOneScriptSoThereIsNoMomentWithoutIt() {
		String script = IsolationRules.replacement(spec);
		assertThat(script).startsWith("table inet gpuflow_wg0 {}\ndelete table inet gpuflow_wg0\ntable inet gpuflow_wg0 {");
		assertThat(script).endsWith(table);
	}

	@Test
	void anotherInterfaceGetsItsOwnTableAndRules() {
		String other = IsolationRules.table(new IsolationRules.Spec("gpuflow_gfabc123", "gfabc123", "10.213.9.1/24", 40000));
		assertThat(other).startsWith("table inet gpuflow_gfabc123 {")
			.contains("iifname \"gfabc123\" ip daddr 10.213.9.1 tcp dport 40000 counter drop")
			.doesNotContain("wg0");
	}

	@Test
	void namesThatCouldInjectNftSyntaxAreRefused() {
		assertThatThrownBy(() -> new IsolationRules.Spec("t; flush ruleset", "wg0", "10.77.0.1/16", 1))
			.isInstanceOf(IllegalArgumentException.class);
		assertThatThrownBy(() -> new IsolationRules.Spec("t", "wg0\" accept", "10.77.0.1/16", 1))
			.isInstanceOf(IllegalArgumentException.class);
	}

	@Nested
	class Normalize {

		@Test
		void countersAndHandlesAndLayoutDoNotCount() {
			String listed = """
					table inet t { # handle 7
						chain input { # handle 1
							type filter hook input priority filter; policy accept;
							iifname "wg0" counter packets 12 bytes 3400 drop comment "x" # handle 4
						}

					}
					""";
			String rendered = """
					table inet t {
					  chain input {
					    type filter hook input priority filter; policy accept;
					    iifname "wg0" counter drop comment "x"
					  }
					}""";
			assertThat(IsolationRules.normalize(listed)).isEqualTo(IsolationRules.normalize(rendered));
		}

		@Test
		void anEditedRuleDoes() {
			String edited = table.replace("tcp dport 9082 counter drop", "tcp dport 9082 counter accept");
			assertThat(IsolationRules.normalize(edited)).isNotEqualTo(IsolationRules.normalize(table));
		}

	}

}
