package net.hybridproxy.proxy.exec;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs a system tool (nft, ip) at startup or shutdown, never on an event loop. Output is bounded and a hung tool
 * is killed after a timeout, so a broken firewall cannot wedge the appliance's start.
 */
public final class Command {
    private static final long TIMEOUT_SECONDS = 15;
    private static final int MAX_OUTPUT = 16 * 1024;

    public record Result(int exitCode, String output) {
    }

    private Command() {
    }

    /** Runs the command, feeding {@code stdin} if non-null; fails with the command line and its output. */
    public static Result run(List<String> command, String stdin) throws IOException {
        Result result = execute(command, stdin);
        if (result.exitCode() != 0) {
            throw new IOException("'" + String.join(" ", command) + "' failed (exit " + result.exitCode() + "): "
                    + result.output().strip());
        }
        return result;
    }

    public static Result runIgnoringFailure(List<String> command) {
        try {
            return execute(command, null);
        } catch (IOException e) {
            return new Result(-1, e.getMessage());
        }
    }

    private static Result execute(List<String> command, String stdin) throws IOException {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        try (OutputStream in = process.getOutputStream()) {
            if (stdin != null) {
                in.write(stdin.getBytes(StandardCharsets.UTF_8));
            }
        }
        byte[] output;
        try {
            if (!process.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                throw new IOException("'" + String.join(" ", command) + "' did not finish in " + TIMEOUT_SECONDS + " s");
            }
            output = process.getInputStream().readNBytes(MAX_OUTPUT);
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while running " + command.getFirst());
        }
        return new Result(process.exitValue(), new String(output, StandardCharsets.UTF_8));
    }
}
