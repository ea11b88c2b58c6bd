package net.hybridproxy.dist;

import net.hybridproxy.loadtest.lab.ApplianceConfigs;
import net.hybridproxy.loadtest.lab.ApplianceLauncher;
import net.hybridproxy.loadtest.lab.ExecResult;
import net.hybridproxy.loadtest.lab.HybridAccessLab;
import net.hybridproxy.loadtest.lab.HybridAccessLab.Link;
import net.hybridproxy.loadtest.lab.LabProcess;
import net.hybridproxy.loadtest.lab.Netns;
import net.hybridproxy.loadtest.lab.TrafficResult;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The container image as users run it, inside the namespace lab: {@code podman run --network ns:...} puts the
 * image's process into a lab namespace. An image concentrator serves a cpe over both emulated uplinks, and an
 * image sidecar fronts a plain-TCP web server for an MPTCP client ({@code mptcpize run curl}). Every transfer is
 * checked with SHA-256.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ContainerImageNetnsTest {
    private static final long MIB = 1024 * 1024;
    private static final long MAX_IMAGE_BYTES = 200L * 1000 * 1000;
    private static final long BULK = 16 * MIB;
    private static final int CONCENTRATOR_PORT = 5100;

    private final List<String> containers = new ArrayList<>();
    private final List<LabProcess> processes = new ArrayList<>();
    private HybridAccessLab lab;
    private Path configs;
    private String image;

    @BeforeAll
    void buildImageAndLab() throws Exception {
        String skip = Podman.skipReason();
        Assumptions.assumeTrue(skip == null, skip);
        image = Podman.buildImage();
        // Plain veth uplinks: this test is about the image, and the link emulator's JVMs would only add load.
        lab = HybridAccessLab.builder().emulation(HybridAccessLab.Emulation.NONE).unshaped(Link.DSL)
                .unshaped(Link.LTE).uplinkPolicyRouting(false).build();
        for (Netns ns : List.of(lab.cpe(), lab.conc())) {
            ns.sysctl("net.ipv4.tcp_fastopen", "3"); // as the sysctl.d drop-in and `check` recommend
        }
        // Read by the image's unprivileged user (uid 10001): world-readable, like a mounted ConfigMap.
        configs = Files.createTempDirectory(Path.of("target").toAbsolutePath(), "image-lab",
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwxr-xr-x")));
    }

    @AfterAll
    void stopEverything() throws IOException {
        for (String name : containers) {
            Podman.run(Duration.ofSeconds(60), "rm-" + name, List.of("podman", "rm", "-f", "-i", "-t", "5", name));
        }
        processes.forEach(LabProcess::close);
        if (lab != null) {
            lab.close();
        }
    }

    @Test
    void imageIsSmallRunsAsNonRootAndEndsWithTheLauncher() throws Exception {
        long size = Podman.imageSize(image);
        System.out.printf("container image size: %d bytes (%.1f MB)%n", size, size / 1e6);
        assertTrue(size <= MAX_IMAGE_BYTES, "image is " + size + " bytes, more than 200 MB");
        String config = Podman.run(Duration.ofSeconds(30), "inspect", List.of("podman", "image", "inspect",
                "--format", "{{.Config.User}} {{.Config.Entrypoint}}", image)).strip();
        assertEquals("10001:10001 [hybridproxy]", config);
        String check = Podman.run(Duration.ofSeconds(60), "check", List.of("podman", "run", "--rm", image, "check"));
        assertTrue(check.contains("Result: ready"), check);
    }

    @Test
    void anImageConcentratorServesACpeOverBothUplinks() throws Exception {
        Path conf = write("concentrator.conf", ApplianceConfigs.concentrator("[::]:" + CONCENTRATOR_PORT,
                "cpe-image", ""));
        LabProcess concentrator = runContainer(lab.conc(), "concentrator", conf, List.of("--cap-add", "NET_ADMIN"));
        ApplianceLauncher.awaitReady(concentrator, "concentrator listening");
        Path cpeConf = write("cpe.conf", ApplianceConfigs.cpe(HybridAccessLab.SERVICE_ADDR + ":" + CONCENTRATOR_PORT,
                "cpe-image", true, List.of(HybridAccessLab.TRAFFIC_PORT)));
        lab.startTrafficServer(lab.server(), HybridAccessLab.TRAFFIC_PORT);
        try (LabProcess cpe = ApplianceLauncher.start(lab.cpe(), cpeConf, "cpe listener lan")) {
            Map<String, Long> before = lab.conc().mptcpExtCounters();
            for (String direction : List.of("--up", "--down")) {
                long start = System.nanoTime();
                TrafficResult r = lab.runTrafficClient(lab.client(), Duration.ofSeconds(120), "--connect",
                        HybridAccessLab.SERVER_ADDR + ":" + HybridAccessLab.TRAFFIC_PORT, direction,
                        String.valueOf(BULK));
                assertTrue(r.ok(), () -> direction + ": " + r + "\n--- image concentrator ---\n"
                        + concentrator.stdout() + "\n--- cpe ---\n" + cpe.stdout());
                if (direction.equals("--up")) { // the server reports its peer on uploads
                    assertEquals(HybridAccessLab.CONC_SRV_ADDR, r.peerIpSeenByServer(), "bypassed the concentrator");
                }
                System.out.println("image concentrator " + direction.substring(2) + ": " + r.mbps() + " Mb/s, "
                        + BULK / MIB + " MiB SHA-256 verified, "
                        + Duration.ofNanos(System.nanoTime() - start).toMillis() + " ms");
            }
            Map<String, Long> after = lab.conc().mptcpExtCounters();
            assertTrue(after.getOrDefault("MPJoinAckRx", 0L) - before.getOrDefault("MPJoinAckRx", 0L) >= 2,
                    "the cpe's LTE subflows did not join: " + after);
        }
    }

    @Test
    void anImageSidecarFrontsATcpServiceForAnMptcpClient() throws Exception {
        Assumptions.assumeTrue(Podman.onPath("mptcpize") && Podman.onPath("curl"),
                "needs mptcpize and curl (Debian packages mptcpize, curl)");
        Path site = Files.createDirectories(configs.resolve("site"));
        byte[] blob = new byte[(int) BULK];
        new Random(12).nextBytes(blob);
        Files.write(site.resolve("blob"), blob);
        Netns server = lab.server();
        LabProcess web = server.startLogged("jwebserver", JdkTool.path("jwebserver"), "-b", "127.0.0.1", "-p",
                "8080", "-d", site.toString());
        web.awaitStdoutLine(l -> l.contains("Serving"), Duration.ofSeconds(30));
        Path conf = write("sidecar.conf", """
                hybridproxy {
                  role = sidecar
                  sidecar { mode = mptcp-to-tcp, listen = "[::]:8443", upstream = "127.0.0.1:8080" }
                }
                """);
        LabProcess sidecar = runContainer(server, "sidecar", conf, List.of());
        ApplianceLauncher.awaitReady(sidecar, "sidecar (mptcp-to-tcp) on");
        awaitListening(server, 8443);

        Map<String, Long> before = server.mptcpExtCounters();
        Path out = configs.resolve("downloaded");
        ExecResult curl = lab.client().exec(Duration.ofSeconds(120), "mptcpize", "run", "curl", "-sS", "--fail",
                "-o", out.toString(), "http://" + HybridAccessLab.SERVER_ADDR + ":8443/blob");
        assertTrue(curl.ok(), curl::describe);
        assertEquals(sha256(blob), sha256(Files.readAllBytes(out)), "downloaded bytes differ");
        Map<String, Long> after = server.mptcpExtCounters();
        assertTrue(after.getOrDefault("MPCapableSYNRX", 0L) > before.getOrDefault("MPCapableSYNRX", 0L),
                "the client's connection reached the sidecar without MPTCP: " + after + "\n" + sidecar.stdout());
        System.out.println("image sidecar: " + BULK / MIB + " MiB over MPTCP via mptcpize curl, SHA-256 verified");
    }

    /**
     * {@code podman run} in the foreground with the container in {@code ns} and {@code config} as the image's config
     * file. Podman itself runs in the host's namespaces: {@code ip netns exec} remounts /sys, which hides the cgroup
     * hierarchy runc needs.
     */
    private LabProcess runContainer(Netns ns, String role, Path config, List<String> options) {
        String name = "hpx-" + ProcessHandle.current().pid() + "-" + role;
        containers.add(name);
        List<String> cmd = new ArrayList<>(List.of("podman", "run", "--rm", "--name", name,
                "--network", "ns:/run/netns/" + ns.name(),
                "-v", config + ":/etc/hybridproxy/hybridproxy.conf:ro"));
        cmd.addAll(options);
        cmd.add(image);
        // The appliance logs to stderr, as under systemd; the lab reads a process's stdout.
        String shell = "exec " + String.join(" ", cmd.stream().map(ApplianceLauncher::quote).toList()) + " 2>&1";
        LabProcess process = LabProcess.start("image-" + role, List.of("sh", "-c", shell),
                lab.logDir().resolve(name + ".log"));
        processes.add(process);
        return process;
    }

    private static void awaitListening(Netns ns, int port) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (!ns.exec("ss", "-Hltn", "sport = :" + port).stdout().contains(":" + port)) {
            assertTrue(System.nanoTime() < deadline, "nothing listens on " + port + " in " + ns.name());
            Thread.sleep(100);
        }
    }

    private Path write(String name, String content) throws IOException {
        Path p = Files.writeString(configs.resolve(name), content);
        Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rw-r--r--"));
        return p;
    }

    static String sha256(byte[] bytes) throws NoSuchAlgorithmException {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
    }
}
