package com.gpuflow.agent.db;

import java.sql.SQLException;
import java.util.Properties;

import com.zaxxer.hikari.HikariDataSource;

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

	@Bean
	static BeanPostProcessor databaseGatePostProcessor() {
		return new GatePostProcessor();
	}

	@Bean
	GateArming databaseGateArming(DataSource dataSource) {
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
			return new DatabaseGate(pool, pool.getJdbcUrl(), properties,
					away -> events.publishEvent(new DatabaseReachable(away)));
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
