package com.gpuflow.agent.chain;

/**
 * How many blocks one {@code eth_getLogs} asks for: halved when the node refuses a range (providers
 * cap ranges, e.g. Infura at 10,000 blocks), doubled back after successes, never below one block.
 */
final class LogRangeSizer {

	private final int max;

	private int current;

	private int successesSinceShrink;

	LogRangeSizer(int initial, int max) {
		this.max = max;
		this.current = Math.min(initial, max);
	}

	int size() {
		return current;
	}

	/** @return false when the range is already one block: the refusal is not about size */
	boolean refused() {
		successesSinceShrink = 0;
		if (current == 1) {
			return false;
		}
		current = Math.max(1, current / 2);
		return true;
	}

	void succeeded() {
		if (++successesSinceShrink >= 3 && current < max) {
			current = (int) Math.min((long) current * 2, max);
			successesSinceShrink = 0;
		}
	}

}
