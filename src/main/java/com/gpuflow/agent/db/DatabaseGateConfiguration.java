package com.gpuflow.agent.db;

import java.sql.SQLException;
import java.util.Properties;

import com.zaxxer.hikari.HikariDataSource;
import com.zaxxer.hikari.SQLExceptionOverride;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import org.springframework.beans.BeansException;
import org.springframework.beans.factory.config.BeanPostProcessor;
import org.springframework.boot.context.event.ApplicationReadyEvent;
import org.springframework.context.ApplicationContext;
import org.springframework.context.ApplicationContextAware;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.event.EventListener;

import javax.sql.DataSource;

/**
 * Puts a {@link DatabaseGate} in front of the HikariCP pool Spring Boot builds, and arms it once
 * the agent has started (start-up and migrations keep the pool's own behaviour).
 */
@Configuration(proxyBeanMethods = false)
class DatabaseGateConfiguration {

	private static final Logger log = LoggerFactory.getLogger(DatabaseGateConfiguration.class);

	@Bean
	static BeanPostProcessor databaseGatePostProcessor() {
		return new GatePostProcessor();
	}

	@Bean
	GateArming databaseGateArming(DataSource dataSource, MeterRegistry meters) throws SQLException {
		if (dataSource.isWrapperFor(DatabaseGate.class)) {
			DatabaseGate gate = dataSource.unwrap(DatabaseGate.class);
			Gauge.builder("gpuflow_database_reachable", () -> gate.isOpen() ? 1 : 0)
				.description("1 while the agent reaches its database, 0 while it fails fast and probes")
				.register(meters);
		}
		return new GateArming(dataSource);
	}

	static final class GatePostProcessor implements BeanPostProcessor, ApplicationContextAware {

		private ApplicationContext context;

		@Override
		public void setApplicationContext(ApplicationContext context) {
			this.context = context;
		}

		@Override
		public Object postProcessAfterInitialization(Object bean, String beanName) throws BeansException {
			if (!(bean instanceof HikariDataSource pool)) {
				return bean;
			}
			Properties properties = new Properties();
			properties.putAll(pool.getDataSourceProperties());
			if (pool.getUsername() != null) {
				properties.setProperty("user", pool.getUsername());
			}
			if (pool.getPassword() != null) {
				properties.setProperty("password", pool.getPassword());
			}
			ApplicationContext events = this.context;
			DatabaseGate gate = new DatabaseGate(pool, pool.getJdbcUrl(), properties,
					away -> events.publishEvent(new DatabaseReachable(away)));
			if (pool.isRunning()) {
				log.warn("The connection pool started before the database gate: broken connections in use will not close the gate");
			}
			else {
				pool.setExceptionOverride(new ReportToGate(gate));
			}
			return gate;
		}

	}

	/**
	 * Hears every SQLException of the pool's connections, statements and result sets (HikariCP asks
	 * it before deciding whether to evict the connection) and tells the gate; the pool's own
	 * decision stays as it was.
	 */
	record ReportToGate(DatabaseGate gate) implements SQLExceptionOverride {

		@java.lang.Override
		public Override adjudicate(SQLException e) {
			this.gate.connectionFailed(e);
			return Override.CONTINUE_EVICT;
		}

	}

	static final class GateArming {

		private final DataSource dataSource;

		GateArming(DataSource dataSource) {
			this.dataSource = dataSource;
		}

		@EventListener(ApplicationReadyEvent.class)
		void arm() throws SQLException {
			if (this.dataSource.isWrapperFor(DatabaseGate.class)) {
				this.dataSource.unwrap(DatabaseGate.class).arm();
			}
		}

	}

}
