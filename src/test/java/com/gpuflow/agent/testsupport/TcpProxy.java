package com.gpuflow.agent.testsupport;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A TCP forwarder on loopback that a test can cut: {@link #cut()} closes every connection and
 * refuses new ones (a database outage as the agent sees it); {@link #blackHole()} keeps every connection
 * open and accepts new ones but passes nothing either way (a peer that stopped answering: the agent
 * waits out its timeouts); {@link #restore()} lets them through again.
 */
public final class TcpProxy implements AutoCloseable {

	private final ServerSocket listener;

	private final InetSocketAddress target;

	private final Set<Socket> open = ConcurrentHashMap.newKeySet();

	private volatile boolean cut;

	private volatile boolean blackHoled;

	/** Connections accepted while black-holed: held open, never answered, closed on restore. */
	private final Set<Socket> held = ConcurrentHashMap.newKeySet();

	private volatile boolean closed;

	public TcpProxy(String targetHost, int targetPort) throws IOException {
		this.target = new InetSocketAddress(targetHost, targetPort);
		this.listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
		Thread.ofVirtual().start(this::accept);
	}

	public int port() {
		return listener.getLocalPort();
	}

	public void cut() {
		cut = true;
		open.forEach(TcpProxy::quietlyClose);
		open.clear();
	}

	/** From now on nothing passes, and nothing is closed or refused either. */
	public void blackHole() {
		blackHoled = true;
	}

	public void restore() {
		cut = false;
		if (blackHoled) {
			blackHoled = false;
			// What was swallowed is lost: the streams are broken, as after a real network outage.
			open.forEach(TcpProxy::quietlyClose);
			open.clear();
			held.forEach(TcpProxy::quietlyClose);
			held.clear();
		}
	}

	private void accept() {
		while (!closed) {
			try {
				Socket client = listener.accept();
				if (cut) {
					client.close();
					continue;
				}
				if (blackHoled) {
					held.add(client);
					continue;
				}
				Socket upstream = new Socket();
				upstream.connect(target, 2_000);
				open.add(client);
				open.add(upstream);
				Thread.ofVirtual().start(() -> pump(client, upstream));
				Thread.ofVirtual().start(() -> pump(upstream, client));
			}
			catch (IOException e) {
				// listener closed, or the target refused one connection: keep serving until closed
			}
		}
	}

	private void pump(Socket from, Socket to) {
		try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
			byte[] buffer = new byte[8192];
			for (int n; (n = in.read(buffer)) >= 0;) {
				if (!blackHoled) {
					out.write(buffer, 0, n);
					out.flush();
				}
			}
		}
		catch (IOException e) {
			// one side went away
		}
		finally {
			quietlyClose(from);
			quietlyClose(to);
			open.remove(from);
			open.remove(to);
		}
	}

	private static void quietlyClose(Socket socket) {
		try {
			socket.close();
		}
		catch (IOException e) {
			// already closed
		}
	}

	@Override
	public void close() {
		closed = true;
		cut();
		held.forEach(TcpProxy::quietlyClose);
		try {
			listener.close();
		}
		catch (IOException e) {
			// already closed
		}
	}

}
