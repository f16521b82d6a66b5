package com.gpuflow.agent.wireguard;

import java.util.List;

/** One run of {@code wg} against the interface: what {@link WgBatch} renders a plan into. */
sealed interface WgInvocation {

	/** {@code wg set <if> <args...>} */
	record Set(List<String> args) implements WgInvocation {

		public Set {
			args = List.copyOf(args);
		}

		@Override
		public String toString() {
			// Public keys only, but thousands of them: a summary reads better in errors and logs.
			return "wg set (" + args.size() + " arguments)";
		}

	}

	/** {@code wg addconf <if> <file>} with this text as the file. */
	record AddConf(String config, int peers) implements WgInvocation {

		@Override
		public String toString() {
			return "wg addconf (" + peers + " peers)";
		}

	}

}
