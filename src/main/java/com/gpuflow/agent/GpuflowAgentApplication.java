package com.gpuflow.agent;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.scheduling.annotation.EnableScheduling;

@SpringBootApplication
@EnableScheduling
public class GpuflowAgentApplication {

	public static void main(String[] args) {
		SpringApplication.run(GpuflowAgentApplication.class, args);
	}

}
