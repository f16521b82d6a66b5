package com.gpuflow.agent.config;

/** A setting that stops the start, named by the key an operator would set (the environment variable). */
public class InvalidSettingException extends RuntimeException {

	private final String key;

	public InvalidSettingException(String key, String problem) {
		super(key + ": " + problem);
		this.key = key;
	}

	public String key() {
		return key;
	}

}
