package net.hybridproxy.proxy.exec;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Runs a system tool (nft, ip) at startup, shutdown or on an operator's action, never on an event loop. Output is
 * bounded and read while the tool runs (a chatty tool cannot block on a full pipe), the locale is C (callers match
 * strerror texts such as "File exists"), and a hung tool is killed after a timeout, so a broken firewall cannot
 * wedge the appliance.
 */
public final class Command {
    private static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(15);
    private static final int MAX_OUTPUT = 16 * 1024;

    /** Exit code and the first {@value #MAX_OUTPUT} bytes of stdout and stderr together. */
    public record Result(int exitCode, String output) {
        public boolean succeeded() {
            return exitCode == 0;
        }
    }

    private Command() {
    }

    /** Runs the command, feeding {@code stdin} if non-null; fails with the command line and its output. */
    public static Result run(List<String> command, String stdin) throws IOException {
        Result result = execute(command, stdin, DEFAULT_TIMEOUT);
        if (!result.succeeded()) {
            throw new IOException("'" + String.join(" ", command) + "' failed (exit " + result.exitCode() + "): "
                    + result.output().strip());
        }
        return result;
    }

    public static Result runIgnoringFailure(List<String> command) {
        try {
            return execute(command, null, DEFAULT_TIMEOUT);
        } catch (IOException e) {
            return new Result(-1, e.getMessage());
        }
    }

    /**
     * Runs the command and returns how it ended, whatever its exit code. Throws only when it could not be run to
     * the end: not startable, timed out (then killed) or interrupted.
     */
    public static Result execute(List<String> command, String stdin, Duration timeout) throws IOException {
        String line = String.join(" ", command);
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
        builder.environment().put("LC_ALL", "C");
        Process process;
        try {
            process = builder.start();
        } catch (IOException e) {
            throw new IOException("cannot run '" + line + "': " + e.getMessage(), e);
        }
        CompletableFuture<String> output = CompletableFuture.supplyAsync(() -> readBounded(process.getInputStream()),
                Thread::startVirtualThread);
        try (OutputStream in = process.getOutputStream()) {
            if (stdin != null) {
                in.write(stdin.getBytes(StandardCharsets.UTF_8));
            }
        }
        try {
            if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                process.destroyForcibly();
                throw new IOException("'" + line + "' did not finish in " + timeout.toMillis() + " ms");
            }
            return new Result(process.exitValue(), output.get(timeout.toMillis(), TimeUnit.MILLISECONDS));
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while running '" + line + "'", e);
        } catch (ExecutionException | TimeoutException e) {
            throw new IOException("cannot read the output of '" + line + "'", e);
        }
    }

    /** Keeps the first bytes and discards the rest, reading to the end so the tool never blocks on the pipe. */
    private static String readBounded(InputStream in) {
        try (in) {
            byte[] kept = in.readNBytes(MAX_OUTPUT);
            in.transferTo(OutputStream.nullOutputStream());
            return new String(kept, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }
}
