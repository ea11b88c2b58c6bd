package net.hybridproxy.loadtest.bench;

import net.hybridproxy.loadtest.lab.LabProcess;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

/**
 * Opt-in detail for the per-connection cost run ({@code HYBRIDPROXY_BENCH_COST_PROFILE=<dir>}): around exactly the
 * connections {@link ConnectionCost} divides by, each proxy process's system calls by name ({@code perf stat -e
 * 'syscalls:sys_enter_*'}, written as {@code <process>-syscalls.txt}, per connection) and, for a JVM, a flight
 * recording ({@code <process>.jfr}, started and stopped with {@code jcmd}) with execution, native-method and
 * allocation samples and the per-thread allocation totals at both ends. Off by default: the tracepoints and the
 * recording cost CPU of their own, so the figures of a profiled run are for reading, not for the table.
 */
final class CostProfile {
    static final String DIR_VARIABLE = "HYBRIDPROXY_BENCH_COST_PROFILE";
    private static final String RECORDING = "connection-cost";
    /** One tracepoint per system call; the rest of the name is the call's. */
    private static final String SYSCALL_EVENTS = "syscalls:sys_enter_";
    /**
     * JFR settings: the default ones plus what a per-connection profile needs, sampled densely. The execution samples
     * see a thread only while it runs Java code, and an event loop spends most of its time in native code (epoll and
     * the socket calls), so they were too few to rank; the CPU-time samples (JDK 25, Linux) are taken per thread
     * every millisecond of its CPU time, wherever it is spent.
     */
    private static final List<String> JFR_OPTIONS = List.of("jdk.CPUTimeSample#enabled=true",
            "jdk.CPUTimeSample#throttle=1ms", "jdk.ExecutionSample#period=10ms",
            "jdk.NativeMethodSample#period=10ms", "jdk.ObjectAllocationSample#enabled=true",
            "jdk.ObjectAllocationSample#throttle=1000/s", "jdk.ThreadAllocationStatistics#enabled=true",
            "jdk.ThreadAllocationStatistics#period=everyChunk", "jdk.JavaExceptionThrow#enabled=false");

    /**
     * A JDK tool of the JDK this runner runs on (the appliances' too), not the first one on the PATH: an older
     * {@code jfr} there does not know the CPU-time event and left every recording unstarted.
     */
    private static String jdkTool(String tool) {
        return Path.of(System.getProperty("java.home"), "bin", tool).toString();
    }

    private final Path dir;
    private final List<LabProcess> proxies;
    private final List<PerfStat> perf = new ArrayList<>();
    private final List<Boolean> recording = new ArrayList<>();

    private CostProfile(Path dir, List<LabProcess> proxies) {
        this.dir = dir;
        this.proxies = proxies;
    }

    /** Starts profiling {@code proxies} when the variable names a directory; empty otherwise. */
    static Optional<CostProfile> startIfAsked(List<LabProcess> proxies, String rowName) {
        String value = System.getenv(DIR_VARIABLE);
        if (value == null || value.isBlank()) {
            return Optional.empty();
        }
        Path dir = Path.of(value, rowName);
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            System.err.println("   cost profile: cannot create " + dir + ": " + e.getMessage());
            return Optional.empty();
        }
        CostProfile profile = new CostProfile(dir, proxies);
        for (LabProcess p : proxies) {
            profile.recording.add(profile.startRecording(p));
            profile.perf.add(PerfStat.start(p.pid(), SYSCALL_EVENTS + "*"));
        }
        return Optional.of(profile);
    }

    /** Stops everything and writes the files, dividing the system calls by {@code connections}. */
    void stop(int connections) {
        for (int i = 0; i < proxies.size(); i++) {
            LabProcess p = proxies.get(i);
            String name = fileName(p);
            Map<String, Long> calls = new TreeMap<>();
            perf.get(i).stop(20).forEach((event, count) -> {
                if (event.startsWith(SYSCALL_EVENTS)) {
                    calls.put(event.substring(SYSCALL_EVENTS.length()), count);
                }
            });
            StringBuilder table = new StringBuilder("# system calls per connection over " + connections
                    + " connections, " + p.label() + "\n");
            calls.entrySet().stream().sorted(Map.Entry.<String, Long>comparingByValue().reversed())
                    .filter(e -> e.getValue() > 0)
                    .forEach(e -> table.append(String.format("%-24s %8.2f%n", e.getKey(),
                            (double) e.getValue() / connections)));
            write(dir.resolve(name + "-syscalls.txt"), table.toString());
            if (recording.get(i)) {
                run(List.of(jdkTool("jcmd"), String.valueOf(p.pid()), "JFR.stop", "name=" + RECORDING));
            }
        }
        System.err.println("   cost profile written to " + dir);
    }

    private boolean startRecording(LabProcess p) {
        String settings = dir.resolve("cost.jfc").toString();
        if (!Files.exists(Path.of(settings))) {
            List<String> configure = new ArrayList<>(List.of(jdkTool("jfr"), "configure", "--input", "default.jfc"));
            configure.addAll(JFR_OPTIONS);
            configure.addAll(List.of("--output", settings));
            run(configure);
        }
        String file = dir.resolve(fileName(p) + ".jfr").toString();
        return run(List.of(jdkTool("jcmd"), String.valueOf(p.pid()), "JFR.start", "name=" + RECORDING,
                "settings=" + settings, "filename=" + file));
    }

    private static String fileName(LabProcess p) {
        return p.label().replaceAll("[^A-Za-z0-9.-]+", "_");
    }

    private static boolean run(List<String> command) {
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            boolean ok = p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0 && !out.contains("Exception");
            if (!ok) {
                System.err.println("   cost profile: " + String.join(" ", command) + ": " + out.strip());
            }
            return ok;
        } catch (IOException | InterruptedException e) {
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            return false;
        }
    }

    private static void write(Path file, String text) {
        try {
            Files.writeString(file, text);
        } catch (IOException e) {
            System.err.println("   cost profile: cannot write " + file + ": " + e.getMessage());
        }
    }
}
