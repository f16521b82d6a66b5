package com.gpuflow.agent.api;

import java.net.URI;
import java.util.concurrent.locks.ReentrantLock;

import org.web3j.protocol.Web3j;
import org.web3j.protocol.core.methods.response.EthChainId;
import org.web3j.protocol.http.HttpService;

/**
 * Asks the node for {@code eth_chainId} at first use and keeps the answer: a chain does not change
 * its id, and a challenge should not cost a round trip to the node. A failure is not cached, so the
 * next challenge asks again.
 */
final class Web3jChainId implements ChainIdSource {

	private final URI rpcUrl;

	private final ReentrantLock lock = new ReentrantLock();

	private volatile Long cached;

	Web3jChainId(URI rpcUrl) {
		this.rpcUrl = rpcUrl;
	}

	@Override
	public long chainId() {
		Long known = cached;
		if (known != null) {
			return known;
		}
		lock.lock();
		try {
			if (cached == null) {
				cached = ask();
			}
			return cached;
		}
		finally {
			lock.unlock();
		}
	}

	private long ask() {
		Web3j web3j = Web3j.build(new HttpService(rpcUrl.toString()));
		try {
			EthChainId response = web3j.ethChainId().send();
			if (response.hasError() || response.getChainId() == null || response.getChainId().signum() <= 0) {
				throw new ChainUnavailableException("the chain node gave no chain id", null);
			}
			return response.getChainId().longValueExact();
		}
		catch (ChainUnavailableException e) {
			throw e;
		}
		catch (Exception e) {
			throw new ChainUnavailableException("the chain node does not answer eth_chainId", e);
		}
		finally {
			web3j.shutdown();
		}
	}

}
