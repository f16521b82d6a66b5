package com.gpuflow.agent.testsupport;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;

import org.web3j.crypto.Bip32ECKeyPair;
import org.web3j.crypto.Credentials;
import org.web3j.crypto.MnemonicUtils;

/**
 * anvil's funded dev accounts: the default mnemonic, path {@code m/44'/60'/0'/0/i}. Account 0 is
 * the provider in these tests, the others are renters. anvil funds as many as
 * {@link AnvilNode.Builder#accounts(int)} says (10 by default). Public test keys: never use them on
 * a real chain.
 */
public final class DevAccounts {

	public static final String MNEMONIC = "test test test test test test test test test test test junk";

	public static final int PROVIDER = 0;

	private static final int HARDENED = 0x80000000;

	private static final ConcurrentMap<Integer, Credentials> CACHE = new ConcurrentHashMap<>();

	private static final Bip32ECKeyPair MASTER = Bip32ECKeyPair
		.generateKeyPair(MnemonicUtils.generateSeed(MNEMONIC, ""));

	private DevAccounts() {
	}

	public static Credentials credentials(int index) {
		return CACHE.computeIfAbsent(index, (i) -> Credentials.create(Bip32ECKeyPair.deriveKeyPair(MASTER,
				new int[] { 44 | HARDENED, 60 | HARDENED, HARDENED, 0, i })));
	}

	public static String address(int index) {
		return credentials(index).getAddress();
	}

	public static Credentials provider() {
		return credentials(PROVIDER);
	}

}
