package com.gpuflow.agent.rental;

public enum SessionState {

	ACTIVE, ENDED, EXPIRED, REORGED_OUT;

	public boolean isOver() {
		return this != ACTIVE;
	}

}
