package com.gpuflow.agent.wireguard;

import java.util.List;
import java.util.Optional;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps the agent's nftables table ({@link IsolationRules}) in place. {@link #converge()} reads the
 * table (one {@code nft list table}, a few milliseconds) and, when it is missing or differs from
 * what the agent installed, replaces it in one atomic transaction: deleted by {@code nft flush
 * ruleset} or edited by hand, it is back by the next pass.
 */
class Firewall {

	private static final Logger log = LoggerFactory.getLogger(Firewall.class);

	enum Check {

		/** The table is as installed. */
		IN_PLACE,
		/** It was missing or edited and has been replaced. */
		RESTORED

	}

	private final IsolationRules.Spec spec;

	private final String nft;

	private final CommandRunner runner;

	/**
	 * The table as nft lists it right after the agent installed it, normalized. Starts as the
	 * rendering itself; nft's own printing of it replaces that at the first install, so another nft
	 * version's way of printing a rule is not mistaken for an edit.
	 */
	private String expected;

	private volatile boolean inPlace;

	Firewall(IsolationRules.Spec spec, String nft, CommandRunner runner) {
		this.spec = spec;
		this.nft = nft;
		this.runner = runner;
		this.expected = IsolationRules.normalize(IsolationRules.table(spec));
	}

	String table() {
		return spec.table();
	}

	IsolationRules.Spec spec() {
		return spec;
	}

	/** As the last install or check found it. */
	boolean inPlace() {
		return inPlace;
	}

	/** Replaces the table whole, in one nft transaction. */
	synchronized void install() {
		try {
			runner.run("nft -f - (table inet " + spec.table() + ")", List.of(nft, "-f", "-"),
					Optional.of(IsolationRules.replacement(spec)));
			expected = listing().orElseThrow(() -> new WgCommandException(
					"nft lists no table inet " + spec.table() + " right after installing it", -1, ""));
			inPlace = true;
		}
		catch (RuntimeException e) {
			inPlace = false;
			throw e;
		}
	}

	/**
	 * Checks the table against what was installed and restores it if it differs.
	 * @throws WgCommandException when nft cannot list or install it
	 */
	synchronized Check converge() {
		Optional<String> now = listing();
		if (now.isPresent() && now.get().equals(expected)) {
			inPlace = true;
			return Check.IN_PLACE;
		}
		inPlace = false;
		log.warn("Isolation rules of {} were {}; restoring table inet {}", spec.interfaceName(),
				now.isEmpty() ? "deleted" : "edited", spec.table());
		install();
		return Check.RESTORED;
	}

	/** Whether the table is there as installed, without repairing it. */
	synchronized boolean matches() {
		try {
			return listing().map(expected::equals).orElse(false);
		}
		catch (WgCommandException e) {
			return false;
		}
	}

	/** Removes the table (tests, clean-up); a missing table is fine. */
	synchronized void remove() {
		try {
			runner.run("nft delete table", List.of(nft, "delete", "table", "inet", spec.table()), Optional.empty());
		}
		catch (WgCommandException e) {
			// Already gone.
		}
		inPlace = false;
	}

	/** The table normalized, or empty when it does not exist. */
	private Optional<String> listing() {
		try {
			return Optional.of(IsolationRules.normalize(runner.run("nft list table inet " + spec.table(),
					List.of(nft, "list", "table", "inet", spec.table()), Optional.empty())));
		}
		catch (WgCommandException e) {
			if (e.stderr().contains("No such file or directory")) {
				return Optional.empty();
			}
			throw e;
		}
	}

}
