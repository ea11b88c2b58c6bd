package net.hybridproxy.loadtest.bench;

import net.hybridproxy.loadtest.lab.LabProcess;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * What each proxy process spends per connection over a run of new connections, from counters that a loaded machine
 * does not distort the way it distorts a rate: CPU time (utime + stime from {@code /proc/<pid>/task/*}{@code /stat}),
 * split by thread (JIT compilers, event loops, the path-manager reader...), and system calls (a
 * {@code perf stat -e raw_syscalls:sys_enter} per process, when {@code perf} is installed). Every figure is divided
 * by the connections the run made, so two systems, or two builds of one, compare directly whatever the load was.
 *
 * <p>Background threads count too: a JVM's compilers or a sampler that run during the burst are part of what the
 * burst costs on that machine. Thread names are the kernel's (cut to 15 characters) with trailing digits and dashes
 * removed, so a pool's threads add up under one name.
 */
final class ConnectionCost {
    private static final double TICKS_PER_MS = 0.1;
    /** Every system call entered, one count. */
    private static final String SYSCALLS = "raw_syscalls:sys_enter";
    /** Thread groups under this share of the process's CPU over the run are summed as "other". */
    private static final double MINOR_SHARE = 0.03;

    private final List<LabProcess> proxies;
    private final List<Map<String, Long>> ticksBefore;
    private final List<long[]> userSystemBefore;
    private final List<PerfStat> perf;

    private ConnectionCost(List<LabProcess> proxies) {
        this.proxies = proxies;
        this.ticksBefore = proxies.stream().map(p -> ticksByThread(p.pid())).toList();
        this.userSystemBefore = proxies.stream().map(p -> userSystemTicks(p.pid())).toList();
        this.perf = proxies.stream().map(p -> PerfStat.start(p.pid(), SYSCALLS)).toList();
    }

    /** Starts counting for {@code proxies}; call {@link #perConnection} once the run is over. */
    static ConnectionCost start(List<LabProcess> proxies) {
        return new ConnectionCost(proxies);
    }

    /**
     * Each process's cost per connection over the run, keyed "{@code <process> cpu ms}" (and its "user ms" and
     * "system ms": the JVM's own work against the kernel's), "{@code <process> syscalls}" and
     * "{@code <process> <thread> ms}" for each thread group at or above 3 % of that process's CPU.
     */
    Map<String, Double> perConnection(int connections) {
        return per(connections);
    }

    /**
     * The same figures divided by any count of units ({@code perConnection} with connections, the steady suite with
     * the GB it verified): a per-byte cost is a per-connection cost with another divisor.
     */
    Map<String, Double> per(double connections) {
        Map<String, Double> out = new LinkedHashMap<>();
        for (int i = 0; i < proxies.size(); i++) {
            String label = proxies.get(i).label();
            Map<String, Long> after = ticksByThread(proxies.get(i).pid());
            Map<String, Long> grown = new TreeMap<>();
            long total = 0;
            for (Map.Entry<String, Long> e : after.entrySet()) {
                long d = e.getValue() - ticksBefore.get(i).getOrDefault(e.getKey(), 0L);
                if (d > 0) {
                    grown.merge(group(e.getKey().substring(0, e.getKey().lastIndexOf('/'))), d, Long::sum);
                    total += d;
                }
            }
            out.put(label + " cpu ms", perConnection(total / TICKS_PER_MS, connections));
            long[] userSystem = userSystemTicks(proxies.get(i).pid());
            out.put(label + " user ms", perConnection((userSystem[0] - userSystemBefore.get(i)[0]) / TICKS_PER_MS,
                    connections));
            out.put(label + " system ms", perConnection((userSystem[1] - userSystemBefore.get(i)[1]) / TICKS_PER_MS,
                    connections));
            Long syscalls = perf.get(i).stop(10).get(SYSCALLS);
            if (syscalls != null) {
                out.put(label + " syscalls", perConnection(syscalls, connections));
            }
            long minor = 0;
            for (Map.Entry<String, Long> e : grown.entrySet()) {
                if (e.getValue() >= total * MINOR_SHARE) {
                    out.put(label + " " + e.getKey() + " ms", perConnection(e.getValue() / TICKS_PER_MS, connections));
                } else {
                    minor += e.getValue();
                }
            }
            if (minor > 0) {
                out.put(label + " other threads ms", perConnection(minor / TICKS_PER_MS, connections));
            }
        }
        return out;
    }

    private static double perConnection(double amount, double connections) {
        return Math.round(amount / connections * 1000) / 1000.0;
    }

    /** A thread's name without its pool index: "C2 CompilerThread1" and "hybridproxy-io-3-2" become one group each. */
    static String group(String threadName) {
        String name = threadName.replaceAll("[-#0-9 ]+$", "");
        return name.isEmpty() ? threadName : name;
    }

    /** Each live thread's utime + stime in clock ticks, keyed "name/tid" (a thread that exited takes its ticks along). */
    private static Map<String, Long> ticksByThread(long pid) {
        Map<String, Long> out = new LinkedHashMap<>();
        try (DirectoryStream<Path> tasks = Files.newDirectoryStream(Path.of("/proc", String.valueOf(pid), "task"))) {
            for (Path task : tasks) {
                try {
                    String stat = Files.readString(task.resolve("stat"));
                    String name = stat.substring(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
                    String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                    out.put(name + "/" + task.getFileName(), Long.parseLong(f[11]) + Long.parseLong(f[12]));
                } catch (IOException | RuntimeException e) {
                    // the thread exited between the listing and the read
                }
            }
        } catch (IOException e) {
            // the process is gone: nothing to count
        }
        return out;
    }

    /** The process's utime and stime in clock ticks, all its threads together (the kernel's split). */
    private static long[] userSystemTicks(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc", String.valueOf(pid), "stat"));
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return new long[] {Long.parseLong(f[11]), Long.parseLong(f[12])};
        } catch (IOException | RuntimeException e) {
            return new long[] {0, 0};
        }
    }
}
