package net.hybridproxy.admin;

/**
 * A request the admin server answers with a 4xx or 5xx status and a one-line JSON message. Backends throw it for
 * what the operator did wrong (unknown uplink, an action the configuration forbids) or what failed on the host;
 * the message must make sense to the operator on its own, since no stack trace is ever sent.
 */
public final class AdminException extends Exception {
    private final int status;

    public AdminException(int status, String message) {
        super(message);
        if (status < 400 || status > 599) {
            throw new IllegalArgumentException("not an error status: " + status);
        }
        this.status = status;
    }

    public AdminException(int status, String message, Throwable cause) {
        this(status, message);
        initCause(cause);
    }

    public int status() {
        return status;
    }

    public static AdminException badRequest(String message) {
        return new AdminException(400, message);
    }

    public static AdminException notFound(String message) {
        return new AdminException(404, message);
    }

    public static AdminException conflict(String message) {
        return new AdminException(409, message);
    }
}
