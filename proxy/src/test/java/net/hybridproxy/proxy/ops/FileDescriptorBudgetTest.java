package net.hybridproxy.proxy.ops;

import net.hybridproxy.proxy.config.AppConfig;
import net.hybridproxy.proxy.config.ConfigLoader;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class FileDescriptorBudgetTest {
    private static final String CONCENTRATOR = """
            hybridproxy {
              role = concentrator
              max-connections = %d
              admin.enabled = false
              concentrator { listen = ["127.0.0.1:15100"], authorized-cidrs = ["198.18.0.0/15"] }
            }
            """;

    private static AppConfig concentrator(int maxConnections) throws Exception {
        return ConfigLoader.parseString(CONCENTRATOR.formatted(maxConnections));
    }

    @Test
    void enoughDescriptorsSayNothing() throws Exception {
        FileDescriptorBudget.Verdict v = FileDescriptorBudget.assess(1_048_576, concentrator(10_000));
        assertFalse(v.fatal());
        assertEquals("", v.message());
    }

    @Test
    void fewerThanTwoPerConnectionWarnsWithWhatCanReallyBeHeld() throws Exception {
        FileDescriptorBudget.Verdict v = FileDescriptorBudget.assess(16_384, concentrator(10_000));
        assertFalse(v.fatal());
        assertTrue(v.message().contains("about 8064 connections"), v.message());
        assertTrue(v.message().contains("LimitNOFILE=20256"), v.message());
        assertTrue(v.message().contains("refused as over max-connections"), v.message());
    }

    /**
     * Between one and two descriptors per connection, the kernel engine admits what the limit holds rather than
     * max-connections: beyond it accept() and socket() would fail with EMFILE, a connection left in the backlog or
     * answered a network failure instead of refused (found by the fault matrix's fd exhaustion run).
     */
    @Test
    void theConnectionLimitIsWhatTheDescriptorsHold() throws Exception {
        assertEquals(8064, FileDescriptorBudget.connectionLimit(java.util.OptionalLong.of(16_384), concentrator(10_000)));
        assertEquals(10_000, FileDescriptorBudget.connectionLimit(java.util.OptionalLong.of(1_048_576),
                concentrator(10_000)));
        assertEquals(10_000, FileDescriptorBudget.connectionLimit(java.util.OptionalLong.empty(), concentrator(10_000)));
        AppConfig userspace = ConfigLoader.parseString(CONCENTRATOR.formatted(10_000).replace("role = concentrator",
                "role = concentrator\n  engine = userspace").replace("listen = [", "keys = [{ id = \"cpe\", key = \"hex:ffeeddccbbaa99887766554433221100\" }], userspace-listen = ["));
        assertEquals(10_000, FileDescriptorBudget.connectionLimit(java.util.OptionalLong.of(16_384), userspace),
                "one descriptor per userspace connection: the start check already covers it");
    }

    /**
     * Refused connections linger in what the clamp left: with 800 descriptors, 272 connections take 544, this
     * process keeps 128, and 128 refusals may linger; with plenty of descriptors the fixed ceiling applies.
     */
    @Test
    void refusalsLingerOnlyInTheDescriptorsTheConnectionsLeave() throws Exception {
        java.util.OptionalLong low = java.util.OptionalLong.of(800);
        AppConfig config = concentrator(500);
        assertEquals(272, FileDescriptorBudget.connectionLimit(low, config));
        assertEquals(128, FileDescriptorBudget.lingeringLimit(low, config, 1024));
        assertEquals(800, FileDescriptorBudget.OWN + 2 * 272 + FileDescriptorBudget.lingeringLimit(low, config, 1024));
        assertEquals(128, FileDescriptorBudget.lingeringLimit(java.util.OptionalLong.of(16_384), concentrator(10_000),
                1024), "podman's default limit with the default max-connections");
        assertEquals(1024, FileDescriptorBudget.lingeringLimit(java.util.OptionalLong.of(1_048_576),
                concentrator(10_000), 1024));
        assertEquals(1024, FileDescriptorBudget.lingeringLimit(java.util.OptionalLong.empty(), config, 1024));
    }

    @Test
    void fewerThanOnePerConnectionRefusesToStart() throws Exception {
        FileDescriptorBudget.Verdict v = FileDescriptorBudget.assess(1_024, concentrator(10_000));
        assertTrue(v.fatal());
        assertTrue(v.message().startsWith("RLIMIT_NOFILE is 1024 open files"), v.message());
    }

    /** The process, as an operator starts it under a low limit: one clear line and a failing exit code. */
    @Test
    void aProcessUnderALowLimitExitsWithAClearMessage() throws Exception {
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/prlimit")), "needs prlimit (util-linux)");
        Path config = Files.createTempFile("hybridproxy-nofile", ".conf");
        try {
            Files.writeString(config, CONCENTRATOR.formatted(10_000));
            String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
            Process p = new ProcessBuilder("prlimit", "--nofile=1024:1024", java, "-cp",
                    System.getProperty("java.class.path"), "net.hybridproxy.proxy.cli.Main", "run", "--config",
                    config.toString()).redirectErrorStream(true).start();
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "did not exit");
            String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertEquals(1, p.exitValue(), output);
            assertTrue(output.contains("RLIMIT_NOFILE is 1024 open files, fewer than max-connections = 10000"),
                    output);
        } finally {
            Files.deleteIfExists(config);
        }
    }
}
