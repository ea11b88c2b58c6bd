package net.hybridproxy.loadtest.lab;

/**
 * Failure of a lab operation (a command that exited non-zero, timed out, or a topology step that
 * could not be applied). Unchecked so test code reads as a script; the message carries everything
 * needed to diagnose the failure without rerunning (command, exit code, stdout, stderr).
 */
public final class LabException extends RuntimeException {
    public LabException(String message) {
        super(message);
    }

    public LabException(String message, Throwable cause) {
        super(message, cause);
    }
}
