package net.hybridproxy.proxy.capture;

import net.hybridproxy.proxy.testing.NetNs;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A cpe process killed with SIGKILL (as the OOM killer does) leaves its nftables table and its TPROXY fwmark rule,
 * which blackhole LAN TCP. The next start removes them whatever its configuration says, and
 * {@code hybridproxy cleanup} removes them on demand; a table the operator made from {@code check}'s printout
 * (unmarked) is left alone.
 */
class CrashLeftoversNetnsTest {
    private NetNs ns;
    private Path dir;
    private final List<Process> processes = new ArrayList<>();

    @BeforeEach
    void setUp() throws Exception {
        String reason = NetNs.skipReason();
        Assumptions.assumeTrue(reason == null, reason);
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/sbin/nft")) || Files.isExecutable(Path.of("/sbin/nft")),
                "needs nft (Debian package nftables)");
        ns = NetNs.create("leftovers");
        ns.addLink("lan0");
        ns.ip("addr", "add", "198.18.0.1/32", "dev", "lo");
        dir = Files.createTempDirectory("hybridproxy-leftovers");
    }

    @AfterEach
    void tearDown() throws Exception {
        for (Process p : processes) {
            p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
        if (ns != null) {
            ns.close();
        }
    }

    @Test
    void theNextStartRemovesWhatAKilledCpeLeftEvenWithoutCaptureRulesConfigured() throws Exception {
        killCpeWithCaptureRules();
        Process next = launch(config(false), "cpe2.log");
        awaitLog("cpe2.log", "admin server on");
        assertTrue(log("cpe2.log").contains("removed capture rules an earlier run left behind"), log("cpe2.log"));
        assertFalse(tableExists(), "table still there");
        assertFalse(fwmarkRuleExists(), "fwmark rule still there");
        next.destroy();
    }

    @Test
    void cleanupRemovesEverythingTheCpeInstalledAndLeavesTheOperatorsOwnTable() throws Exception {
        killCpeWithCaptureRules();
        String first = main("cleanup", "--config", config(true).toString());
        assertTrue(first.contains("removed") && first.contains("nft table inet hybridproxy"), first);
        assertFalse(tableExists());
        assertFalse(fwmarkRuleExists());
        assertTrue(main("cleanup").contains("nothing left to remove"));

        // An operator who manages the firewall applied check's printout: no marker, not ours to remove.
        ns.exec("nft", "add", "table", "inet", "hybridproxy");
        assertTrue(main("cleanup").contains("nothing left to remove"));
        assertTrue(tableExists(), "the operator's table was removed");
    }

    private void killCpeWithCaptureRules() throws Exception {
        Process cpe = launch(config(true), "cpe1.log");
        awaitLog("cpe1.log", "admin server on");
        assertTrue(tableExists() && fwmarkRuleExists(), "capture rules not installed: " + log("cpe1.log"));
        cpe.destroyForcibly().waitFor(10, TimeUnit.SECONDS); // SIGKILL: no shutdown hook runs
        assertTrue(tableExists() && fwmarkRuleExists(), "the kill did not leave the rules behind");
    }

    private Path config(boolean installCaptureRules) throws IOException {
        Path file = dir.resolve("cpe-" + installCaptureRules + ".conf");
        Files.writeString(file, """
                hybridproxy {
                  role = cpe
                  uplinks = [{ name = dsl, interface = lo, address = "198.18.0.1", role = primary }]
                  path-manager { manage-endpoints = false, install-routes = false }
                  cpe {
                    concentrator = "198.18.0.1:5100"
                    install-capture-rules = %s
                    listeners = [{ name = lan, mode = tproxy, bind = "0.0.0.0:12345", interface = lan0 }]
                  }
                }
                """.formatted(installCaptureRules));
        return file;
    }

    private Process launch(Path config, String logName) throws IOException {
        Process p = new ProcessBuilder(command("run", "--config", config.toString()))
                .redirectErrorStream(true).redirectOutput(dir.resolve(logName).toFile()).start();
        processes.add(p);
        return p;
    }

    private String main(String... args) throws Exception {
        Process p = new ProcessBuilder(command(args)).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out);
        return out;
    }

    private List<String> command(String... args) {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> c = new ArrayList<>(List.of("ip", "netns", "exec", ns.name(), java,
                "--enable-native-access=ALL-UNNAMED", "-Xmx128m", "-XX:+UseSerialGC", "-cp",
                System.getProperty("java.class.path"), "net.hybridproxy.proxy.cli.Main"));
        c.addAll(List.of(args));
        return c;
    }

    private boolean tableExists() {
        try {
            ns.exec("nft", "list", "table", "inet", "hybridproxy");
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private boolean fwmarkRuleExists() throws IOException {
        return ns.ip("-4", "rule", "show").contains("fwmark 0x4850");
    }

    private String log(String name) {
        try {
            return Files.readString(dir.resolve(name));
        } catch (IOException e) {
            return "";
        }
    }

    private void awaitLog(String name, String text) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!log(name).contains(text)) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("'" + text + "' not logged within 30 s:\n" + log(name));
            }
            Thread.sleep(100);
        }
    }
}
