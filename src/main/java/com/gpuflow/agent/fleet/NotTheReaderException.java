package com.gpuflow.agent.fleet;

/** Thrown inside a reader's transaction once another agent's term has begun: the transaction rolls back. */
public class NotTheReaderException extends RuntimeException {

	NotTheReaderException(long term) {
		super("term " + term + " of the chain reader is over: another agent reads the chain now");
	}

}
