package net.hybridproxy.proxy.ops;

import net.hybridproxy.proxy.config.AppConfig;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.OptionalLong;

/**
 * Checks at start that the process may open the file descriptors its configuration promises. Each relayed
 * connection holds two (the multipath side and the plain TCP side); a userspace concentrator's subflows hold one
 * each. A process below one descriptor per connection cannot keep its promise at all and refuses to start; one below
 * the full need starts with a warning that says how many connections it can really hold. Without this, the shortfall
 * shows only under load, as accept() and connect() failing with EMFILE.
 *
 * <p>The JVM raises its soft RLIMIT_NOFILE to the hard limit at start on Linux, so the soft limit read here is
 * what the process really has.
 */
public final class FileDescriptorBudget {
    /**
     * Descriptors kept out of the connection limit: this process's own ({@link #OWN}) and those of refused connections
     * while their Error TLV goes out ({@link #lingeringLimit}).
     */
    static final int HEADROOM = 256;
    /**
     * Of {@link #HEADROOM}, this process's own descriptors: listeners, netlink sockets, the admin server, jars, epoll
     * and eventfd descriptors, logs (about 80 on a concentrator with two event loops), and the connections one
     * listener wake-up accepts before they are admitted or refused.
     */
    static final int OWN = 128;
    /**
     * Connections a kernel-engine listener may have accepted and not yet handed to their event loop while descriptors
     * are short (part of {@link #OWN}); see {@link #shortOfDescriptors}.
     */
    public static final int ACCEPT_RUN_AHEAD = 32;

    /** What the check concluded: {@code fatal} refuses to start; a non-empty message is logged either way. */
    public record Verdict(boolean fatal, String message) {
    }

    private FileDescriptorBudget() {
    }

    /** The verdict for a process whose RLIMIT_NOFILE soft limit is {@code limit}. */
    public static Verdict assess(long limit, AppConfig config) {
        long connections = config.maxConnections();
        long subflows = config.concentrator().filter(c -> !c.userspaceListen().isEmpty())
                .map(c -> (long) config.userspace().maxSessions() * 8).orElse(0L);
        long needed = 2 * connections + subflows + HEADROOM;
        if (limit >= needed) {
            return new Verdict(false, "");
        }
        String advice = "raise the limit (systemd: LimitNOFILE=" + needed + "; shell: ulimit -n " + needed
                + "; container: --ulimit nofile=" + needed + ") or lower max-connections";
        if (limit < connections + HEADROOM) {
            return new Verdict(true, "RLIMIT_NOFILE is " + limit + " open files, fewer than max-connections = "
                    + connections + " connections need (2 each, " + needed + " in all); " + advice);
        }
        long holdable = Math.max(0, (limit - HEADROOM - subflows) / 2);
        String beyond = config.engine() == AppConfig.Engine.KERNEL
                ? "connections beyond that are refused as over max-connections"
                : "beyond that new connections and subflows fail with EMFILE";
        return new Verdict(false, "RLIMIT_NOFILE is " + limit + " open files: about " + holdable
                + " connections can be relayed, not max-connections = " + connections + " (2 descriptors each, "
                + needed + " in all); " + beyond + "; " + advice);
    }

    /**
     * The connections the process admits at once: max-connections, or with the kernel engine as many as the limit
     * holds at two descriptors each when that is fewer. Admitting more would not fail cleanly: accept() and the
     * outbound socket() fail with EMFILE, the first leaving the connection in the listen backlog until its client
     * gives up, the second answering a network failure that is not one. Refused as over max-connections instead,
     * each gets the usual answer, counter and log line, with {@link #HEADROOM} left for this process's own
     * descriptors and the refusals themselves ({@link #lingeringLimit}).
     * The userspace engine needs one descriptor per connection (the multipath side rides on shared subflows), which
     * the start check already guarantees; its subflows, bounded by the handshake quotas, are not clamped here.
     */
    public static int connectionLimit(OptionalLong limit, AppConfig config) {
        int configured = config.maxConnections();
        if (limit.isEmpty() || config.engine() != AppConfig.Engine.KERNEL) {
            return configured;
        }
        return (int) Math.max(1, Math.min(configured, (limit.getAsLong() - HEADROOM) / 2));
    }

    /**
     * How many refused connections may linger at once (their Error TLV on its way, the client's last bytes drained)
     * with the kernel engine: what the limit leaves beyond this process's own descriptors and two for each connection
     * {@link #connectionLimit} admits, at most {@code ceiling}; refusals beyond it are closed at once. A refused
     * connection holds no connection slot, so without this bound a burst of refusals at full load took the
     * descriptors the clamp had left and accept() failed with EMFILE after all (docs/decisions.md, "The fd
     * exhaustion test"). The userspace engine's refused streams hold no descriptor: {@code ceiling} applies.
     */
    public static int lingeringLimit(OptionalLong limit, AppConfig config, int ceiling) {
        if (limit.isEmpty() || config.engine() != AppConfig.Engine.KERNEL) {
            return ceiling;
        }
        long left = limit.getAsLong() - OWN - 2L * connectionLimit(limit, config);
        return (int) Math.max(0, Math.min(ceiling, left));
    }

    /**
     * Whether this process's limit is below what its configuration needs with the kernel engine, so that the
     * connection limit and the refusals are clamped to the descriptors and the listeners bound what they accept
     * ahead of their event loops ({@link #ACCEPT_RUN_AHEAD}). With descriptors to spare none of this applies.
     */
    public static boolean shortOfDescriptors(OptionalLong limit, AppConfig config, int lingeringCeiling) {
        return limit.isPresent() && config.engine() == AppConfig.Engine.KERNEL
                && limit.getAsLong() < 2L * config.maxConnections() + HEADROOM + lingeringCeiling;
    }

    /** This process's soft RLIMIT_NOFILE, from /proc/self/limits; empty when unknown (not Linux) or unlimited. */
    public static OptionalLong currentLimit() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/limits"))) {
                if (line.startsWith("Max open files")) {
                    String soft = line.substring("Max open files".length()).trim().split("\\s+")[0];
                    return soft.equals("unlimited") ? OptionalLong.empty() : OptionalLong.of(Long.parseLong(soft));
                }
            }
        } catch (IOException | RuntimeException e) {
            return OptionalLong.empty();
        }
        return OptionalLong.empty();
    }
}
