package com.gpuflow.agent.fleet;

/**
 * This agent now reads the chain for every host of the database. Every transaction of the reader
 * passes {@code term} to {@link Fleet#fence}, which refuses it once another agent has taken over.
 */
public record ChainReaderElected(long term) {
}
