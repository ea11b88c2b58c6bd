package net.hybridproxy.proxy.logging;

import java.lang.System.Logger.Level;
import java.net.InetAddress;
import java.time.Duration;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * Refusal logging that an attacker cannot turn into a log flood: the first refusal per (reason, source) in each
 * interval is logged with its detail; the rest are counted and the count is reported with the next one logged.
 * Counters in {@link ProxyCounters} still count every refusal; this only decides what reaches the log.
 *
 * <p>Memory is bounded: at most {@link #MAX_TRACKED} (reason, source) pairs are tracked; beyond that, sources are
 * aggregated under "many sources" for that reason. Thread-safe (one short lock; refusals are not the fast path).
 */
public final class RefusalLog {
    static final int MAX_TRACKED = 1024;

    private final System.Logger log;
    private final Level level;
    private final long intervalNanos;
    private final LongSupplier nanoClock;
    private final Map<Key, Window> windows = new HashMap<>();

    public RefusalLog(System.Logger log, Duration interval, LongSupplier nanoClock) {
        this(log, Level.INFO, interval, nanoClock);
    }

    /** The same, logging at {@code level} (e.g. WARNING for failures an operator must act on). */
    public RefusalLog(System.Logger log, Level level, Duration interval, LongSupplier nanoClock) {
        this.log = log;
        this.level = level;
        this.intervalNanos = interval.toNanos();
        this.nanoClock = nanoClock;
    }

    /**
     * Logs a refusal of {@code source} for {@code reason} unless one was logged for the same pair within the
     * interval.
     *
     * @param reason short, fixed category (e.g. "pending quota"); never attacker-controlled text
     * @param detail the full message, built only when it is logged
     * @return whether the message was logged
     */
    public boolean refused(String reason, InetAddress source, Supplier<String> detail) {
        long now = nanoClock.getAsLong();
        long suppressed;
        synchronized (windows) {
            Key key = new Key(reason, source);
            Window window = windows.get(key);
            if (window == null && windows.size() >= MAX_TRACKED) {
                evictQuiet(now);
                if (windows.size() >= MAX_TRACKED) {
                    key = new Key(reason, null);
                    window = windows.get(key);
                }
            }
            if (window != null && now - window.startedNanos < intervalNanos) {
                window.suppressed++;
                return false;
            }
            suppressed = window == null ? 0 : window.suppressed;
            windows.put(key, new Window(now));
        }
        String text = detail.get();
        log.log(level, suppressed == 0 ? text
                : text + " (" + suppressed + " more like it from " + (source == null ? "many sources" : "this source")
                + " not logged in the last " + Duration.ofNanos(intervalNanos).toSeconds() + " s)");
        return true;
    }

    private void evictQuiet(long now) {
        for (Iterator<Window> it = windows.values().iterator(); it.hasNext(); ) {
            if (now - it.next().startedNanos >= intervalNanos) {
                it.remove();
            }
        }
    }

    /** Pairs tracked now (for tests). */
    int tracked() {
        synchronized (windows) {
            return windows.size();
        }
    }

    private record Key(String reason, InetAddress source) {
    }

    private static final class Window {
        final long startedNanos;
        long suppressed;

        Window(long startedNanos) {
            this.startedNanos = startedNanos;
        }
    }
}
