package com.gpuflow.agent.fleet;

import org.springframework.boot.diagnostics.AbstractFailureAnalyzer;
import org.springframework.boot.diagnostics.FailureAnalysis;

/** A second agent with a running HOST_ID stops with one line naming it, before it touches the interface. */
class HostAlreadyRunningFailureAnalyzer extends AbstractFailureAnalyzer<HostAlreadyRunningException> {

	@Override
	protected FailureAnalysis analyze(Throwable rootFailure, HostAlreadyRunningException cause) {
		return new FailureAnalysis(cause.getMessage(),
				"Stop the other agent of HOST_ID " + cause.hostId() + ", or give this one its own HOST_ID.", cause);
	}

}
