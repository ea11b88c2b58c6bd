package net.hybridproxy.loadtest.lab;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

/**
 * A named Linux network namespace (as managed by {@code ip netns}) and the commands run in it.
 *
 * <p>Commands run through {@code ip netns exec}, which also gives them a private /sys for the
 * namespace, so sysfs counters and /proc/net files read from there describe this namespace.
 * Every process started through {@link #start} is remembered and killed by {@link #delete()}.
 */
public final class Netns implements AutoCloseable {
    /** Default limit for short configuration commands; a hung {@code tc} must not hang a test. */
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(30);

    private static final Pattern SAFE_NAME = Pattern.compile("[A-Za-z0-9_.-]{1,64}");
    private static final int MAX_CAPTURE = 4 * 1024 * 1024;

    private final String name;
    private final Path logDir;
    private final List<LabProcess> processes = new CopyOnWriteArrayList<>();
    private volatile boolean deleted;

    private Netns(String name, Path logDir) {
        this.name = name;
        this.logDir = logDir;
    }

    /** Creates the namespace; fails if one with that name already exists. */
    public static Netns create(String name) {
        return create(name, null);
    }

    /**
     * Creates the namespace. {@code logDir} (may be null) is where {@link #startLogged} puts
     * per-process log files.
     */
    public static Netns create(String name, Path logDir) {
        checkName(name);
        host(DEFAULT_TIMEOUT, "ip", "netns", "add", name);
        return new Netns(name, logDir);
    }

    public String name() {
        return name;
    }

    /** Runs a command in the namespace; throws with stdout and stderr unless it exits 0. */
    public ExecResult exec(String... cmd) {
        return exec(DEFAULT_TIMEOUT, cmd);
    }

    /** Runs a command in the namespace; throws with stdout and stderr unless it exits 0 in time. */
    public ExecResult exec(Duration timeout, String... cmd) {
        ExecResult r = tryExec(timeout, cmd);
        if (!r.ok()) {
            throw new LabException("in netns " + name + ": " + r.describe());
        }
        return r;
    }

    /** Runs a command in the namespace and returns its result whatever the exit code. */
    public ExecResult tryExec(Duration timeout, String... cmd) {
        return run(inside(cmd), timeout);
    }

    /** Shorthand for {@code exec("ip", args...)}. */
    public ExecResult ip(String... args) {
        String[] cmd = new String[args.length + 1];
        cmd[0] = "ip";
        System.arraycopy(args, 0, cmd, 1, args.length);
        return exec(cmd);
    }

    /** Starts a long-running process with its output kept in memory (bounded tail). */
    public LabProcess start(String... cmd) {
        return track(LabProcess.start(label(cmd), inside(cmd), null));
    }

    /** Starts a long-running process and also writes its full output to {@code logFile}. */
    public LabProcess start(Path logFile, String... cmd) {
        return track(LabProcess.start(label(cmd), inside(cmd), logFile));
    }

    /**
     * Starts a long-running process logging to {@code <logDir>/<namespace>-<logName>.log}, or in
     * memory only if this namespace has no log directory.
     */
    public LabProcess startLogged(String logName, String... cmd) {
        return logDir == null ? start(cmd) : start(logDir.resolve(name + "-" + logName + ".log"), cmd);
    }

    /**
     * Starts a long-running process whose standard input is a pipe from this JVM, for processes controlled by
     * {@link LabProcess#request}; output goes to {@code <logDir>/<namespace>-<logName>.log} as with
     * {@link #startLogged}.
     */
    public LabProcess startControlled(String logName, String... cmd) {
        Path logFile = logDir == null ? null : logDir.resolve(name + "-" + logName + ".log");
        return track(LabProcess.start(label(cmd), inside(cmd), logFile, true));
    }

    /** Processes started here and not yet closed. */
    public List<LabProcess> processes() {
        return List.copyOf(processes);
    }

    /** Sets a sysctl inside the namespace (net.* keys are per namespace). */
    public void sysctl(String key, String value) {
        exec("sysctl", "-q", "-w", key + "=" + value);
    }

    /** Reads a sysctl inside the namespace. */
    public String sysctl(String key) {
        return exec("sysctl", "-n", key).stdout().strip();
    }

    /** Byte and packet counters of {@code ifname}, read from this namespace's sysfs. */
    public InterfaceCounters readInterfaceCounters(String ifname) {
        checkName(ifname);
        String base = "/sys/class/net/" + ifname + "/statistics/";
        String[] v = exec("cat", base + "rx_bytes", base + "rx_packets", base + "tx_bytes", base + "tx_packets")
                .stdout().strip().split("\\s+");
        if (v.length != 4) {
            throw new LabException("unexpected statistics for " + ifname + " in " + name + ": " + Arrays.toString(v));
        }
        return new InterfaceCounters(Long.parseLong(v[0]), Long.parseLong(v[1]), Long.parseLong(v[2]),
                Long.parseLong(v[3]));
    }

    /** The MPTcpExt counters of this namespace's /proc/net/netstat, keyed by bare counter name. */
    public Map<String, Long> mptcpExtCounters() {
        return netstat("MPTcpExt");
    }

    /** The TcpExt counters of this namespace's /proc/net/netstat, keyed by bare counter name. */
    public Map<String, Long> tcpExtCounters() {
        return netstat("TcpExt");
    }

    /**
     * One group of /proc/net/netstat. The file holds pairs of lines, {@code Group: names...}
     * followed by {@code Group: values...}.
     */
    private Map<String, Long> netstat(String group) {
        return parseNetstat(exec("cat", "/proc/net/netstat").stdout(), group);
    }

    /**
     * One group of a {@code /proc/net/netstat} or {@code /proc/net/snmp} text: its pairs of lines
     * {@code Group: Name1 Name2 ...} and {@code Group: value1 value2 ...}, by counter name. The counters are
     * unsigned; snmp's few signed fields (MaxConn, -1) are read as such.
     */
    public static Map<String, Long> parseNetstat(String text, String group) {
        String prefix = group + ":";
        List<String> matching = text.lines().filter(l -> l.startsWith(prefix)).toList();
        Map<String, Long> result = new LinkedHashMap<>();
        for (int i = 0; i + 1 < matching.size(); i += 2) {
            String[] names = matching.get(i).substring(prefix.length()).trim().split("\\s+");
            String[] values = matching.get(i + 1).substring(prefix.length()).trim().split("\\s+");
            for (int j = 0; j < Math.min(names.length, values.length); j++) {
                result.put(names[j], values[j].startsWith("-") ? Long.parseLong(values[j])
                        : Long.parseUnsignedLong(values[j]));
            }
        }
        return result;
    }

    /**
     * Kills processes started here (and any other process still inside), then deletes the
     * namespace. Safe to call repeatedly. Killing first matters: a namespace stays alive,
     * unnamed, with its interfaces, for as long as any process is still inside it.
     */
    public synchronized void delete() {
        if (deleted) {
            return;
        }
        killAll();
        deleteByName(name);
        deleted = true;
    }

    /** Kills every process inside the namespace without deleting it. */
    public void killAll() {
        for (LabProcess p : processes) {
            p.stop(Duration.ZERO);
        }
        processes.clear();
        killPidsOf(name);
    }

    @Override
    public void close() {
        delete();
    }

    @Override
    public String toString() {
        return "netns " + name;
    }

    // ---- host-side helpers (root namespace, read-only apart from ip netns add/del) ----

    /** Names of all named namespaces, from {@code ip netns list}. */
    static List<String> list() {
        List<String> names = new ArrayList<>();
        for (String line : host(DEFAULT_TIMEOUT, "ip", "netns", "list").stdout().split("\n")) {
            String n = line.strip();
            if (!n.isEmpty()) {
                // Lines look like "name" or "name (id: 3)".
                names.add(n.split("\\s+")[0]);
            }
        }
        return names;
    }

    static List<Long> pidsOf(String ns) {
        ExecResult r = run(List.of("ip", "netns", "pids", ns), DEFAULT_TIMEOUT);
        if (!r.ok()) {
            return List.of();
        }
        return r.stdout().lines().map(String::strip).filter(s -> !s.isEmpty()).map(Long::parseLong).toList();
    }

    static void killPidsOf(String ns) {
        long self = ProcessHandle.current().pid();
        for (int attempt = 0; attempt < 50; attempt++) {
            List<Long> pids = pidsOf(ns);
            if (pids.isEmpty()) {
                return;
            }
            for (long pid : pids) {
                if (pid != self) {
                    ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
                }
            }
            sleep(100);
        }
        throw new LabException("processes still running in netns " + ns + ": " + pidsOf(ns));
    }

    static void deleteByName(String ns) {
        ExecResult r = run(List.of("ip", "netns", "del", ns), DEFAULT_TIMEOUT);
        if (!r.ok() && list().contains(ns)) {
            throw new LabException("cannot delete netns " + ns + ": " + r.describe());
        }
    }

    static ExecResult host(Duration timeout, String... cmd) {
        ExecResult r = run(List.of(cmd), timeout);
        if (!r.ok()) {
            throw new LabException(r.describe());
        }
        return r;
    }

    /**
     * Runs a command to completion, reading stdout and stderr concurrently so neither pipe can
     * fill up and stall the child.
     */
    static ExecResult run(List<String> cmd, Duration timeout) {
        Process p;
        try {
            ProcessBuilder pb = new ProcessBuilder(cmd);
            pb.redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()));
            p = pb.start();
        } catch (IOException e) {
            throw new LabException("cannot run " + String.join(" ", cmd), e);
        }
        Capture out = new Capture(p.getInputStream());
        Capture err = new Capture(p.getErrorStream());
        try {
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                LabProcess.killTree(p.toHandle(), p.descendants().toList());
                p.waitFor(5, TimeUnit.SECONDS);
                throw new LabException("timed out after " + timeout + ": " + String.join(" ", cmd)
                        + "\n--- stdout ---\n" + out.text() + "\n--- stderr ---\n" + err.text());
            }
            return new ExecResult(cmd, p.exitValue(), out.text(), err.text());
        } catch (InterruptedException e) {
            LabProcess.killTree(p.toHandle(), p.descendants().toList());
            Thread.currentThread().interrupt();
            throw new LabException("interrupted: " + String.join(" ", cmd), e);
        }
    }

    private List<String> inside(String... cmd) {
        if (cmd.length == 0) {
            throw new IllegalArgumentException("empty command");
        }
        if (deleted) {
            throw new LabException("netns " + name + " was deleted");
        }
        List<String> full = new ArrayList<>(cmd.length + 4);
        full.addAll(List.of("ip", "netns", "exec", name));
        full.addAll(Arrays.asList(cmd));
        return full;
    }

    private LabProcess track(LabProcess p) {
        processes.add(p);
        return p;
    }

    private String label(String... cmd) {
        String prog = Path.of(cmd[0]).getFileName().toString();
        return name + "/" + prog;
    }

    private static void checkName(String n) {
        if (!SAFE_NAME.matcher(n).matches()) {
            throw new IllegalArgumentException("unsafe name: " + n);
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new LabException("interrupted", e);
        }
    }

    /** Reads a stream to its end on a daemon thread, keeping at most a few MiB. */
    private static final class Capture {
        private final ByteArrayOutputStream buf = new ByteArrayOutputStream();
        private final Thread thread;

        Capture(InputStream in) {
            thread = Thread.ofPlatform().daemon().start(() -> {
                byte[] chunk = new byte[8192];
                try (in) {
                    int n;
                    while ((n = in.read(chunk)) >= 0) {
                        synchronized (buf) {
                            if (buf.size() < MAX_CAPTURE) {
                                buf.write(chunk, 0, Math.min(n, MAX_CAPTURE - buf.size()));
                            }
                        }
                    }
                } catch (IOException ignored) {
                    // Stream closed because the process was killed; keep what we have.
                }
            });
        }

        String text() {
            try {
                // A grandchild that inherited the pipe could keep it open; don't wait for it forever.
                thread.join(2000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            synchronized (buf) {
                return buf.toString(StandardCharsets.UTF_8);
            }
        }
    }
}
