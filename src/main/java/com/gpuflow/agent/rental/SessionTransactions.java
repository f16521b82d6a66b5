package com.gpuflow.agent.rental;

import java.util.function.Supplier;

import com.gpuflow.agent.audit.AuditLog;

import org.springframework.stereotype.Component;
import org.springframework.transaction.support.TransactionTemplate;

/**
 * Transactions that change sessions. Each takes this host's audit chain lock first, before any
 * session row: every writer of sessions and the audit log then locks in one order, so none can
 * deadlock another.
 */
@Component
class SessionTransactions {

	private final TransactionTemplate transactions;

	private final AuditLog audit;

	SessionTransactions(TransactionTemplate transactions, AuditLog audit) {
		this.transactions = transactions;
		this.audit = audit;
	}

	<T> T write(Supplier<T> work) {
		return transactions.execute(status -> {
			audit.lockChain();
			return work.get();
		});
	}

	void write(Runnable work) {
		write(() -> {
			work.run();
			return null;
		});
	}

}
