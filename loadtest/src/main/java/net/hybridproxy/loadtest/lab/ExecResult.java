package net.hybridproxy.loadtest.lab;

import java.util.List;

/** Outcome of a command that ran to completion. */
public record ExecResult(List<String> command, int exitCode, String stdout, String stderr) {
    public ExecResult {
        command = List.copyOf(command);
    }

    public boolean ok() {
        return exitCode == 0;
    }

    /** Human-readable summary used in exception messages. */
    public String describe() {
        return "command " + String.join(" ", command) + " exited " + exitCode
                + "\n--- stdout ---\n" + stdout + "\n--- stderr ---\n" + stderr;
    }
}
