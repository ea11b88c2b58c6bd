package net.hybridproxy.loadtest.bench;

import net.hybridproxy.loadtest.lab.LabProcess;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * CPU time and peak resident memory of a set of processes and their descendants, from /proc. CPU is user plus
 * system time in clock ticks (USER_HZ, 100 on Linux); peak memory is {@code VmHWM}, the resident high-water mark.
 * A process that has exited counts as zero, so callers sample before they stop the processes.
 */
public record ProcessStats(double cpuSeconds, long peakRssBytes) {
    private static final double TICKS_PER_SECOND = 100.0;

    public static ProcessStats of(Collection<Long> roots) {
        double cpu = 0;
        long rss = 0;
        for (long pid : withDescendants(roots)) {
            cpu += cpuSeconds(pid);
            rss += peakRss(pid);
        }
        return new ProcessStats(cpu, rss);
    }

    /**
     * Each process's own peak resident memory ({@code VmHWM}, with its descendants'), keyed by {@code labels}: one
     * JVM's figure is what a memory target per JVM is about, the sum hides which one grew.
     */
    static Map<String, Long> peakRssEach(List<String> labels, List<Long> roots) {
        Map<String, Long> out = new LinkedHashMap<>();
        for (int i = 0; i < roots.size(); i++) {
            out.put(labels.get(i), of(List.of(roots.get(i))).peakRssBytes());
        }
        return out;
    }

    private static List<Long> withDescendants(Collection<Long> roots) {
        List<Long> all = new ArrayList<>();
        for (long pid : roots) {
            all.add(pid);
            ProcessHandle.of(pid).ifPresent(h -> h.descendants().forEach(d -> all.add(d.pid())));
        }
        return all;
    }

    /** The CPU seconds (user and system) of {@code pid} alone, without its descendants; 0 once it is gone. */
    public static double cpuSeconds(long pid) {
        try {
            return ticksToSeconds(Files.readString(Path.of("/proc", String.valueOf(pid), "stat")));
        } catch (IOException | RuntimeException e) {
            return 0;
        }
    }

    /**
     * CPU seconds of a JVM's JIT compiler threads ({@code C1 CompilerThread*}, {@code C2 CompilerThread*}; the kernel
     * cuts thread names to 15 characters), from {@code /proc/<pid>/task/*}{@code /stat}. A lower bound: the JVM stops
     * compiler threads it no longer needs, and an exited thread's time is then only in the process's figure. Zero for
     * a process that is not a HotSpot JVM.
     */
    static double compilerCpuSeconds(long pid) {
        double sum = 0;
        try (DirectoryStream<Path> tasks = Files.newDirectoryStream(Path.of("/proc", String.valueOf(pid), "task"))) {
            for (Path task : tasks) {
                try {
                    String stat = Files.readString(task.resolve("stat"));
                    String name = stat.substring(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
                    if (name.startsWith("C1 Compiler") || name.startsWith("C2 Compiler")) {
                        sum += ticksToSeconds(stat);
                    }
                } catch (IOException | RuntimeException e) {
                    // the thread exited between the listing and the read
                }
            }
        } catch (IOException e) {
            return 0;
        }
        return sum;
    }

    private static double ticksToSeconds(String stat) {
        // The command name (field 2) may contain spaces; fields are counted after its closing parenthesis.
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name and state.
        return (Long.parseLong(f[11]) + Long.parseLong(f[12])) / TICKS_PER_SECOND;
    }

    private static long peakRss(long pid) {
        return LabProcess.memoryStatusBytes(pid, "VmHWM");
    }
}
