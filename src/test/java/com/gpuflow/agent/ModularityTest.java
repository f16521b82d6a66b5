package com.gpuflow.agent;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.Test;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

/**
 * One package per capability, dependencies pointing one way: chain and api drive rental; wireguard
 * consumes rental's port; config and audit's writer depend on nothing of ours.
 */
class ModularityTest {

	static final JavaClasses AGENT = new ClassFileImporter().withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
		.importPackages("com.gpuflow.agent");

	@Test
	void capabilitiesHaveNoCycles() {
		slices().matching("com.gpuflow.agent.(*)..").should().beFreeOfCycles().check(AGENT);
	}

	@Test
	void configurationDependsOnNoCapability() {
		noClasses().that()
			.resideInAPackage("..agent.config..")
			.should()
			.dependOnClassesThat()
			.resideInAnyPackage("..agent.chain..", "..agent.rental..", "..agent.wireguard..", "..agent.api..",
					"..agent.audit..", "..agent.ipam..", "..agent.keys..", "..agent.ops..")
			.check(AGENT);
	}

	@Test
	void theSessionCoreKnowsNothingOfItsAdapters() {
		noClasses().that()
			.resideInAPackage("..agent.rental..")
			.should()
			.dependOnClassesThat()
			.resideInAnyPackage("..agent.chain..", "..agent.wireguard..", "..agent.api..")
			.check(AGENT);
	}

	@Test
	void renterAndAuditRoutesDoNotReachIntoTheInterface() {
		noClasses().that()
			.resideInAnyPackage("..agent.api..", "..agent.audit..")
			.should()
			.dependOnClassesThat()
			.resideInAPackage("..agent.wireguard..")
			.check(AGENT);
	}

}
