package com.gpuflow.agent.api;

/** The chain's id for the sign-in message's {@code Chain ID}. */
interface ChainIdSource {

	/**
	 * @throws ChainUnavailableException when the chain cannot be asked
	 */
	long chainId();

	class ChainUnavailableException extends RuntimeException {

		ChainUnavailableException(String message, Throwable cause) {
			super(message, cause);
		}

	}

}
