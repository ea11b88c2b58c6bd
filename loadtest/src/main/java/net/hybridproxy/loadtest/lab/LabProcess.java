package net.hybridproxy.loadtest.lab;

import java.io.IOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * A long-running process started inside a namespace. Its stdout and stderr are kept as bounded
 * in-memory tails (and, if a log file was given, also written there in full, stderr lines
 * prefixed with {@code !}). Closing kills the process together with everything it spawned, so a
 * failed test cannot leave a server holding a namespace alive.
 */
public final class LabProcess implements AutoCloseable {
    private static final int TAIL_CHARS = 256 * 1024;

    private final String label;
    private final List<String> command;
    private final Process process;
    private final Path logFile;
    private final Writer log;
    private final OutputTail out = new OutputTail(TAIL_CHARS);
    private final OutputTail err = new OutputTail(TAIL_CHARS);
    private final Thread outPump;
    private final Thread errPump;
    private final Writer stdin;

    private LabProcess(String label, List<String> command, Process process, Path logFile, Writer log, boolean keepStdin) {
        this.label = label;
        this.command = List.copyOf(command);
        this.process = process;
        this.logFile = logFile;
        this.log = log;
        this.outPump = out.pump(label + "-stdout", process.getInputStream(), log);
        this.errPump = err.pump(label + "-stderr", process.getErrorStream(), log == null ? null : new PrefixWriter(log));
        this.stdin = keepStdin ? new java.io.OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8) : null;
    }

    /**
     * Starts a process in this host's namespaces (not a lab namespace's), e.g. a container engine whose
     * containers join a lab namespace themselves: {@code ip netns exec} would hide the host's cgroup mounts.
     */
    public static LabProcess start(String label, List<String> command, Path logFile) {
        return start(label, command, logFile, false);
    }

    /**
     * Starts a process; with {@code keepStdin} its standard input stays a pipe from this JVM (see {@link #request}),
     * otherwise it reads /dev/null. A process that exits on end of input then also dies with this JVM.
     */
    static LabProcess start(String label, List<String> command, Path logFile, boolean keepStdin) {
        Writer log = null;
        try {
            if (logFile != null) {
                Files.createDirectories(logFile.toAbsolutePath().getParent());
                log = Files.newBufferedWriter(logFile, StandardCharsets.UTF_8);
                log.write("# " + String.join(" ", command) + "\n");
            }
            ProcessBuilder pb = new ProcessBuilder(command);
            if (!keepStdin) {
                pb.redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()));
            }
            return new LabProcess(label, command, pb.start(), logFile, log, keepStdin);
        } catch (IOException e) {
            closeQuietly(log);
            throw new LabException("cannot start " + String.join(" ", command), e);
        }
    }

    public String label() {
        return label;
    }

    public List<String> command() {
        return command;
    }

    public long pid() {
        return process.pid();
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    /**
     * A memory figure of this process from /proc/PID/status in bytes, e.g. {@code VmRSS} (resident now) or
     * {@code VmHWM} (its peak); 0 once the process is gone.
     */
    public long memoryStatusBytes(String field) {
        return memoryStatusBytes(process.pid(), field);
    }

    /** {@link #memoryStatusBytes(String)} of any process. */
    public static long memoryStatusBytes(long pid, String field) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc", String.valueOf(pid), "status"))) {
                if (line.startsWith(field + ":")) {
                    return Long.parseLong(line.replaceAll("\\D+", "")) * 1024;
                }
            }
        } catch (IOException | RuntimeException e) {
            // Gone: nothing to report.
        }
        return 0;
    }

    /** Retained stdout tail. */
    public String stdout() {
        return out.text();
    }

    /** Retained stderr tail. */
    public String stderr() {
        return err.text();
    }

    public List<String> stdoutLines() {
        return out.lines();
    }

    /**
     * Waits until the process prints a stdout line matching {@code match} and returns it. Fails
     * with both output tails if the process exits first or the timeout passes.
     */
    public String awaitStdoutLine(Predicate<String> match, Duration timeout) {
        try {
            return out.await(match, timeout).orElseThrow(() -> new LabException(
                    label + ": no matching output line within " + timeout
                            + (process.isAlive() ? "" : " (process exited " + process.exitValue() + ")")
                            + describeOutput()));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new LabException(label + ": interrupted while waiting for output", e);
        }
    }

    /**
     * Sends one line on the process's standard input and returns the first stdout line that follows starting with
     * {@code OK} or {@code ERR}, for line-oriented control protocols. Throws on {@code ERR}, on timeout, and if the
     * process was started without a stdin pipe. Callers serialise their requests.
     */
    public synchronized String request(String line, Duration timeout) {
        if (stdin == null) {
            throw new LabException(label + " was started without a stdin pipe");
        }
        long seen = out.count();
        try {
            stdin.write(line);
            stdin.write('\n');
            stdin.flush();
            String reply = out.awaitAfter(seen, l -> l.startsWith("OK") || l.startsWith("ERR"), timeout)
                    .orElseThrow(() -> new LabException(label + ": no reply to '" + line + "' within " + timeout
                            + describeOutput()));
            if (reply.startsWith("ERR")) {
                throw new LabException(label + ": '" + line + "' failed: " + reply);
            }
            return reply;
        } catch (IOException e) {
            throw new LabException(label + ": cannot send '" + line + "'" + describeOutput(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new LabException(label + ": interrupted waiting for a reply to '" + line + "'", e);
        }
    }

    /** Waits for exit and returns the exit code; throws (leaving the process running) on timeout. */
    public int waitFor(Duration timeout) {
        try {
            if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                throw new LabException(label + ": still running after " + timeout + describeOutput());
            }
            // Let the pumps drain so callers see the complete output of a finished process.
            outPump.join(2000);
            errPump.join(2000);
            return process.exitValue();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new LabException(label + ": interrupted while waiting", e);
        }
    }

    /**
     * Asks the process tree to terminate (SIGTERM), then kills whatever is left after
     * {@code grace}. Descendants are collected before the parent dies; afterwards they would be
     * reparented and impossible to find from here.
     */
    public void stop(Duration grace) {
        List<ProcessHandle> tree = process.descendants().toList();
        if (!grace.isZero()) {
            tree.forEach(ProcessHandle::destroy);
            process.destroy();
            try {
                process.waitFor(grace.toMillis(), TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        killTree(process.toHandle(), tree);
        try {
            process.waitFor(5, TimeUnit.SECONDS);
            outPump.join(2000);
            errPump.join(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        closeQuietly(log);
        closeQuietly(stdin);
    }

    @Override
    public void close() {
        stop(Duration.ofSeconds(1));
    }

    static void killTree(ProcessHandle root, List<ProcessHandle> knownDescendants) {
        // Re-read descendants too: children forked after the first snapshot must not escape.
        root.descendants().forEach(ProcessHandle::destroyForcibly);
        knownDescendants.forEach(ProcessHandle::destroyForcibly);
        root.destroyForcibly();
    }

    String describeOutput() {
        return "\n--- " + label + " stdout ---\n" + out.text() + "--- " + label + " stderr ---\n" + err.text()
                + (logFile == null ? "" : "(full log: " + logFile + ")\n");
    }

    @Override
    public String toString() {
        return label + "[pid " + process.pid() + "]";
    }

    private static void closeQuietly(Writer w) {
        if (w != null) {
            try {
                synchronized (w) {
                    w.close();
                }
            } catch (IOException ignored) {
                // Nothing useful to do about a log file that cannot be flushed during teardown.
            }
        }
    }

    /** Marks stderr lines in the shared log file; shares the underlying writer's lock. */
    private static final class PrefixWriter extends Writer {
        private final Writer target;
        private boolean lineStart = true;

        PrefixWriter(Writer target) {
            this.target = target;
        }

        @Override
        public void write(char[] cbuf, int off, int len) throws IOException {
            synchronized (target) {
                for (int i = off; i < off + len; i++) {
                    if (lineStart) {
                        target.write("! ");
                    }
                    target.write(cbuf[i]);
                    lineStart = cbuf[i] == '\n';
                }
            }
        }

        @Override
        public void flush() throws IOException {
            synchronized (target) {
                target.flush();
            }
        }

        @Override
        public void close() {
            // The target is owned and closed by the LabProcess.
        }
    }
}
