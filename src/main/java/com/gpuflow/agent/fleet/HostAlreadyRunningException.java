package com.gpuflow.agent.fleet;

/** Another agent holds this HOST_ID in the shared database: two agents must never drive one host's sessions. */
class HostAlreadyRunningException extends RuntimeException {

	private final String hostId;

	HostAlreadyRunningException(String hostId) {
		super("HOST_ID " + hostId + " is already running: another agent holds it in this database");
		this.hostId = hostId;
	}

	String hostId() {
		return hostId;
	}

}
