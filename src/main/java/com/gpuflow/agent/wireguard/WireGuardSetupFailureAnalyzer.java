package com.gpuflow.agent.wireguard;

import org.springframework.boot.diagnostics.AbstractFailureAnalyzer;
import org.springframework.boot.diagnostics.FailureAnalysis;

/** A missing prerequisite (root, wg, wireguard-go, /dev/net/tun) stops the start with one line. */
class WireGuardSetupFailureAnalyzer extends AbstractFailureAnalyzer<WireGuardSetupException> {

	@Override
	protected FailureAnalysis analyze(Throwable rootFailure, WireGuardSetupException cause) {
		return new FailureAnalysis("WireGuard setup failed: " + cause.getMessage(),
				"Fix the prerequisite named above and start again.", cause);
	}

}
