package com.gpuflow.agent.wireguard;

/** The interface cannot be brought up; the message is one line an operator can act on. */
public class WireGuardSetupException extends RuntimeException {

	WireGuardSetupException(String message) {
		super(message);
	}

	WireGuardSetupException(String message, Throwable cause) {
		super(message, cause);
	}

}
