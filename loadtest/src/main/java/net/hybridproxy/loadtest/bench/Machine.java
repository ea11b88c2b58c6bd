package net.hybridproxy.loadtest.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** What the benchmark ran on, so noisy figures can be read in context. */
final class Machine {
    private Machine() {
    }

    /** The 1-minute load average, or -1 where /proc/loadavg is missing. */
    static double loadAverage() {
        try {
            return Double.parseDouble(Files.readString(Path.of("/proc/loadavg")).split("\\s+")[0]);
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    /**
     * The hard open-file limit this process may raise its children to ({@code Max open files} in
     * /proc/self/limits); raising it further needs CAP_SYS_RESOURCE, which containers often drop.
     */
    static long openFileHardLimit() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/limits"))) {
                if (line.startsWith("Max open files")) {
                    String hard = line.substring("Max open files".length()).strip().split("\\s+")[1];
                    return hard.equals("unlimited") ? 1 << 20 : Long.parseLong(hard);
                }
            }
        } catch (IOException | RuntimeException e) {
            // Fall through to the usual default.
        }
        return 4096;
    }

    /** The prlimit option giving a child every file descriptor this process may grant. */
    static String nofileOption() {
        long limit = openFileHardLimit();
        return "--nofile=" + limit + ":" + limit;
    }

    static BenchmarkReport.MachineInfo describe() {
        return new BenchmarkReport.MachineInfo(Runtime.getRuntime().availableProcessors(), cpuModel(),
                Math.round(memTotalKb() / 1024.0 / 1024.0 * 10) / 10.0, System.getProperty("os.version"),
                System.getProperty("java.version"), loadAverage(), openFileHardLimit());
    }

    private static String cpuModel() {
        try {
            return Files.readAllLines(Path.of("/proc/cpuinfo")).stream().filter(l -> l.startsWith("model name"))
                    .map(l -> l.substring(l.indexOf(':') + 1).strip()).findFirst().orElse("unknown");
        } catch (IOException e) {
            return "unknown";
        }
    }

    private static long memTotalKb() {
        try {
            return Files.readAllLines(Path.of("/proc/meminfo")).stream().filter(l -> l.startsWith("MemTotal:"))
                    .map(l -> Long.parseLong(l.replaceAll("\\D+", ""))).findFirst().orElse(0L);
        } catch (IOException | RuntimeException e) {
            return 0;
        }
    }
}
