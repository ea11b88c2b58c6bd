package net.hybridproxy.loadtest.tool;

import net.hybridproxy.loadtest.lab.JavaLauncher;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every loadtest program with a main, run as a user runs it (its own JVM): {@code --help} answers on stdout with
 * exit 0, an unknown option and a missing required option or value are refused with one line on stderr and exit 2.
 */
class ToolCommandLineTest {

    private record ToolRun(int exitCode, String stdout, String stderr) {
    }

    private static ToolRun run(String mainClass, String... args) throws IOException, InterruptedException {
        List<String> cmd = JavaLauncher.command(List.of("-Xmx64m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"),
                mainClass, args);
        Process p = new ProcessBuilder(cmd).start();
        p.getOutputStream().close();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "still running: " + cmd);
        return new ToolRun(p.exitValue(), new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8),
                new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8));
    }

    /**
     * Each program with the arguments that leave out something it needs (a required option, or an option's value),
     * and the complaint.
     */
    static Stream<Arguments> programs() {
        return Stream.of(
                Arguments.of("net.hybridproxy.loadtest.loadgen.LoadClient", List.of("bulk", "--up", "10"),
                        "missing required option: '--connect=HOST:PORT'"),
                Arguments.of("net.hybridproxy.loadtest.loadgen.LoadServer", List.of("--listen"),
                        "missing required parameter for option '--listen'"),
                Arguments.of("net.hybridproxy.loadtest.lab.emu.LinkEmulator", List.of("--mtu", "1400"),
                        "missing required option: '--name=NAME'"),
                Arguments.of("net.hybridproxy.loadtest.bench.BenchmarkRunner", List.of("--suite"),
                        "missing required parameter for option '--suite'"),
                Arguments.of("net.hybridproxy.loadtest.bench.Report", List.of("a", "b"),
                        "unmatched argument at index 1: 'b'"),
                Arguments.of("net.hybridproxy.loadtest.bench.EmulatorCapacity", List.of("--rate"),
                        "missing required parameter for option '--rate'"),
                Arguments.of("net.hybridproxy.loadtest.relay.SpliceVersusCopy", List.of("--rounds"),
                        "missing required parameter for option '--rounds'"));
    }

    @ParameterizedTest
    @MethodSource("programs")
    void helpUnknownOptionsAndMissingValues(String mainClass, List<String> incomplete, String complaint)
            throws Exception {
        ToolRun help = run(mainClass, "--help");
        assertEquals(0, help.exitCode(), help::toString);
        assertTrue(help.stdout().contains("Usage: "), help::toString);
        assertEquals("", help.stderr(), help::toString);

        // With what is required given, so that the unknown option is the only mistake.
        ToolRun unknown = run(mainClass, mainClass.endsWith("LinkEmulator") ? new String[] {"--name", "t", "--frobnicate"}
                : new String[] {"--frobnicate"});
        assertEquals(2, unknown.exitCode(), unknown::toString);
        assertEquals("", unknown.stdout(), unknown::toString);
        assertEquals(1, unknown.stderr().lines().count(), unknown::toString);
        assertTrue(unknown.stderr().contains("unknown option: '--frobnicate'")
                && unknown.stderr().contains("--help"), unknown::toString);

        ToolRun missing = run(mainClass, incomplete.toArray(String[]::new));
        assertEquals(2, missing.exitCode(), missing::toString);
        assertEquals(1, missing.stderr().lines().count(), missing::toString);
        assertTrue(missing.stderr().contains(complaint), missing::toString);
    }
}
