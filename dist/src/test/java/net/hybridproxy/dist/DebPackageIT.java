package net.hybridproxy.dist;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The .deb as a gateway installs it: {@code dpkg -i} into a fresh Debian (the debootstrap'd base image, run with
 * podman), then {@code systemd-analyze verify} on the installed unit and {@code hybridproxy check} from the
 * installed launcher. The Java 25 runtime the package depends on comes from a second package made here: a jlink'd
 * JRE that provides {@code java25-runtime-headless}, as a distribution's or Adoptium's JRE package does.
 */
class DebPackageIT {
    @Test
    void packageInstallsWithDpkgItsUnitVerifiesAndCheckRunsFromIt() throws Exception {
        String skip = Podman.skipReason();
        Assumptions.assumeTrue(skip == null, skip);
        Path deb = Path.of(System.getProperty("hybridproxy.deb"));
        assertTrue(Files.exists(deb), "the build made no .deb at " + deb);
        Podman.ensureBaseImage();
        Path debs = Files.createDirectories(Path.of("target", "debs").toAbsolutePath());
        Files.copy(deb, debs.resolve("hybridproxy.deb"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        jrePackage(debs.resolve("jre.deb"));

        String script = """
                set -e
                apt-get update -qq
                DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends iproute2 procps systemd >/dev/null
                dpkg -i /debs/jre.deb /debs/hybridproxy.deb
                dpkg -s hybridproxy | grep '^Status: install ok installed'
                systemd-analyze verify /lib/systemd/system/hybridproxy.service && echo UNIT-VERIFIED
                test -f /usr/lib/sysctl.d/90-hybridproxy.conf && ls /usr/share/hybridproxy/examples/
                hybridproxy check
                cp /usr/share/hybridproxy/examples/concentrator.conf /etc/hybridproxy/hybridproxy.conf
                hybridproxy check --config /etc/hybridproxy/hybridproxy.conf | tail -n 3
                ls /usr/share/hybridproxy/lib/ | grep -- '-linux-'
                HYBRIDPROXY_JAVA_OPTS=-XX:+PrintFlagsFinal hybridproxy check | grep -E ' (UseSerialGC|MaxRAMPercentage) '
                JAVA_OPTS='-XX:+UseParallelGC -Xmx48m -XX:+PrintFlagsFinal' hybridproxy check | grep -E ' (UseParallelGC|MaxHeapSize) '
                """;
        String out = Podman.run(Duration.ofMinutes(10), "deb-install", List.of("podman", "run", "--rm",
                "--network", "host", "-v", debs + ":/debs:ro", Podman.BASE_IMAGE, "bash", "-c", script));
        System.out.println(out);
        assertTrue(out.contains("Status: install ok installed"), out);
        assertTrue(out.contains("UNIT-VERIFIED"), out);
        assertTrue(out.contains("concentrator.conf") && out.contains("cpe.conf"), "examples missing:\n" + out);
        assertTrue(out.contains("hybridproxy check: host") && out.contains("MPTCP sockets"), out);
        assertTrue(out.contains("Result:"), out);
        for (String arch : List.of("x86_64", "aarch_64")) {
            for (String transport : List.of("epoll", "io_uring")) {
                assertTrue(out.contains("netty-transport-native-" + transport) && out.contains(transport
                        + "-4.2.18.Final-linux-" + arch + ".jar"), transport + " natives for " + arch + " missing:\n" + out);
            }
        }
        // The launcher's defaults (serial GC, a quarter of RAM), and JAVA_OPTS replacing them.
        assertTrue(out.matches("(?s).*bool UseSerialGC\\s+= true.*"), out);
        assertTrue(out.matches("(?s).*double MaxRAMPercentage\\s+= 25\\.0.*"), out);
        assertTrue(out.matches("(?s).*bool UseParallelGC\\s+= true.*"), out);
        assertTrue(out.matches("(?s).*size_t MaxHeapSize\\s+= 50331648.*"), out);
    }

    /** A runtime package: this JDK jlink'd to a JRE under /usr/lib/jvm, providing java25-runtime-headless. */
    private static void jrePackage(Path target) throws IOException {
        Path root = Files.createTempDirectory(Path.of("target").toAbsolutePath(), "jre-pkg");
        Path jre = root.resolve("usr/lib/jvm/java-25-jlinked-amd64");
        Files.createDirectories(jre.getParent());
        Podman.run(Duration.ofMinutes(3), "jlink", List.of(JdkTool.path("jlink"), "--add-modules",
                "java.base,java.logging,java.management,java.naming,jdk.management,jdk.unsupported",
                "--strip-java-debug-attributes", "--no-man-pages", "--no-header-files", "--output", jre.toString()));
        Files.createDirectories(root.resolve("DEBIAN"));
        Files.writeString(root.resolve("DEBIAN/control"), """
                Package: java25-jlinked-jre
                Version: 25
                Architecture: amd64
                Provides: java25-runtime-headless
                Maintainer: hybridproxy developers <dev@hybridproxy.invalid>
                Description: jlink'd Java 25 runtime for the package installation test
                """);
        Podman.run(Duration.ofMinutes(3), "jre-deb", List.of("dpkg-deb", "--root-owner-group", "-Zgzip", "-z1",
                "--build", root.toString(), target.toString()));
    }
}
