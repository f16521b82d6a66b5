package com.gpuflow.agent.testsupport;

import java.util.concurrent.TimeUnit;

/** Ending the child processes tests start. */
public final class Processes {

	private Processes() {
	}

	/** Kills the process (SIGKILL) if it still runs and waits up to 10 s for it to be gone. */
	public static void killAndWait(Process process) {
		if (process != null && process.isAlive()) {
			process.destroyForcibly();
			try {
				process.waitFor(10, TimeUnit.SECONDS);
			}
			catch (InterruptedException e) {
				Thread.currentThread().interrupt();
			}
		}
	}

}
