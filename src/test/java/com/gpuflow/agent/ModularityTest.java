package com.gpuflow.agent;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import com.gpuflow.agent.rental.ChainSessions;
import com.gpuflow.agent.rental.DesiredPeer;
import com.gpuflow.agent.rental.PeerObservation;
import com.gpuflow.agent.rental.RentalEvent;
import com.gpuflow.agent.rental.RenterSessions;
import com.gpuflow.agent.rental.Session;
import com.gpuflow.agent.rental.SessionCounts;
import com.gpuflow.agent.rental.SessionDirectory;
import com.gpuflow.agent.rental.SessionPort;
import com.gpuflow.agent.rental.SessionState;
import com.gpuflow.agent.rental.SessionsChanged;
import com.gpuflow.agent.rental.SshKeys;
import com.gpuflow.agent.rental.SshPublicKey;
import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.Test;

import static com.tngtech.archunit.base.DescribedPredicate.not;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.belongToAnyOf;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.resideInAPackage;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static org.assertj.core.api.Assertions.assertThat;
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

	@Test
	void onlyTheRentalPackageWritesSessionsAndPendingRentals() throws IOException {
		Pattern writes = Pattern.compile("(insert\\s+into|update|delete\\s+from)\\s+(sessions|pending_rentals)\\b",
				Pattern.CASE_INSENSITIVE);
		Path sources = Path.of("src/main/java/com/gpuflow/agent");
		try (Stream<Path> files = Files.walk(sources)) {
			List<String> offenders = files.filter(file -> file.toString().endsWith(".java"))
				.filter(file -> !file.startsWith(sources.resolve("rental")))
				.filter(file -> {
					try {
						return writes.matcher(Files.readString(file)).find();
					}
					catch (IOException e) {
						throw new IllegalStateException(e);
					}
				})
				.map(Path::toString)
				.toList();
			assertThat(offenders).as("classes outside rental that write its tables").isEmpty();
		}
	}

	@Test
	void theChainHandsEventsToRentalAndNeverAllocatesAddresses() {
		noClasses().that().resideInAPackage("..agent.chain..").should().dependOnClassesThat().resideInAPackage("..agent.ipam..")
			.check(AGENT);
	}

	@Test
	void othersUseOnlyTheFacesOfTheRentalPackage() {
		noClasses().that()
			.resideOutsideOfPackage("..agent.rental..")
			.should()
			.dependOnClassesThat(resideInAPackage("..agent.rental..").and(not(belongToAnyOf(ChainSessions.class,
					RenterSessions.class, SessionPort.class, SessionCounts.class, Session.class, SessionState.class,
					RentalEvent.class, DesiredPeer.class, PeerObservation.class, SessionsChanged.class, SessionDirectory.class,
					SessionDirectory.Holder.class, SshKeys.class, SshKeys.Authorized.class, SshPublicKey.class))))
			.check(AGENT);
	}

}
