package net.hybridproxy.proxy.cli;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The command-line conventions operators expect; each one pinned. */
class MainTest {
    private static final Path CPE_CONFIG = Path.of("..", "configs", "cpe.conf");

    private record Outcome(int exit, String out, String err) {
    }

    private static Outcome run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int exit = Main.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Outcome(exit, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void versionNamesTheBuildAndTheRuntime() {
        Outcome o = run("--version");
        assertEquals(0, o.exit(), o.err());
        assertTrue(o.out().matches("(?s)hybridproxy \\d+\\.\\d+\\.\\d+\\S*\\RJava 25\\S*, Netty 4\\.2\\.\\d+\\.Final\\R"),
                o.out());
    }

    @Test
    void helpGoesToStdoutAndListsCommandsAndExitCodes() {
        Outcome o = run("--help");
        assertEquals(0, o.exit());
        assertEquals("", o.err());
        for (String expected : new String[] {"run", "check", "demo", "Exit codes:", "2   usage error"}) {
            assertTrue(o.out().contains(expected), () -> "no '" + expected + "' in\n" + o.out());
        }
    }

    @Test
    void everyCommandHasItsOwnHelp() {
        for (String command : new String[] {"run", "check", "demo"}) {
            Outcome o = run(command, "--help");
            assertEquals(0, o.exit(), command);
            assertTrue(o.out().startsWith("Usage: hybridproxy " + command), o.out());
        }
        assertTrue(run("run", "--help").out().contains("--config=FILE"));
    }

    @Test
    void noCommandPrintsTheUsageOnStderrWithExitTwo() {
        Outcome o = run();
        assertEquals(2, o.exit());
        assertEquals("", o.out());
        assertTrue(o.err().startsWith("Usage: hybridproxy"), o.err());
    }

    @Test
    void aMisspeltOptionIsRefusedInOneLineNotIgnored() {
        Outcome o = run("check", "--confg", CPE_CONFIG.toString());
        assertEquals(2, o.exit());
        assertEquals("", o.out(), "check must not run with an option it does not know");
        assertEquals(1, o.err().lines().count(), o.err());
        assertTrue(o.err().startsWith("hybridproxy check: unknown option") && o.err().contains("'--confg'"), o.err());
        assertTrue(o.err().strip().endsWith("(see 'hybridproxy check --help')"), o.err());
    }

    @Test
    void unknownCommandsAndStrayArgumentsAreRefused() {
        Outcome command = run("start");
        assertEquals(2, command.exit());
        assertEquals(1, command.err().lines().count(), command.err());
        Outcome stray = run("check", "extra");
        assertEquals(2, stray.exit());
        assertEquals(1, stray.err().lines().count(), stray.err());
    }

    @Test
    void configTakesBothSpellings() {
        assertTrue(Files.exists(CPE_CONFIG));
        for (String[] args : new String[][] {{"check", "--config", CPE_CONFIG.toString()},
                {"check", "--config=" + CPE_CONFIG}}) {
            Outcome o = run(args);
            assertTrue(o.out().contains("is valid (role cpe)"), o.out() + o.err());
        }
    }

    @Test
    void runWithoutConfigAndAnInvalidConfigAreUsageErrors() throws Exception {
        Outcome missing = run("run");
        assertEquals(2, missing.exit());
        assertTrue(missing.err().startsWith("hybridproxy run: missing required option: '--config=FILE'"),
                missing.err());
        Path bad = Files.createTempFile("hybridproxy", ".conf");
        try {
            Files.writeString(bad, "hybridproxy { role = gateway }");
            Outcome invalid = run("run", "--config", bad.toString());
            assertEquals(2, invalid.exit());
            assertTrue(invalid.err().startsWith("hybridproxy run: invalid configuration: "), invalid.err());
            assertTrue(invalid.err().contains("hybridproxy.role"), invalid.err());
        } finally {
            Files.delete(bad);
        }
    }

    @Test
    void aBadNumberIsAUsageError() {
        Outcome o = run("demo", "--bytes", "lots");
        assertEquals(2, o.exit());
        assertTrue(o.err().contains("--bytes"), o.err());
        assertEquals(2, run("demo", "--bytes", "0").exit());
    }
}
