package net.hybridproxy.loadtest.lab;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Predicate;

/**
 * Keeps the last lines a process printed. Bounded so a chatty long-running process (a proxy
 * under load) cannot exhaust the test JVM's heap; lines are what tests wait for and assert on.
 */
final class OutputTail {
    private final int maxChars;
    private final ArrayDeque<String> lines = new ArrayDeque<>();
    private int chars;
    private long dropped;
    private long total;
    private boolean closed;

    OutputTail(int maxChars) {
        this.maxChars = maxChars;
    }

    /** Starts a daemon thread copying {@code in} into this tail (and into {@code tee} if not null). */
    Thread pump(String threadName, InputStream in, Writer tee) {
        Thread t = Thread.ofPlatform().daemon().name(threadName).start(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
                String line;
                while ((line = r.readLine()) != null) {
                    add(line);
                    if (tee != null) {
                        synchronized (tee) {
                            tee.write(line);
                            tee.write('\n');
                            tee.flush();
                        }
                    }
                }
            } catch (IOException e) {
                // The stream closes when the process is killed; whatever arrived so far is kept.
            } finally {
                markClosed();
            }
        });
        return t;
    }

    synchronized void add(String line) {
        lines.addLast(line);
        total++;
        chars += line.length() + 1;
        while (chars > maxChars && lines.size() > 1) {
            chars -= lines.removeFirst().length() + 1;
            dropped++;
        }
        notifyAll();
    }

    synchronized void markClosed() {
        closed = true;
        notifyAll();
    }

    /** How many lines arrived so far, retained or not. */
    synchronized long count() {
        return total;
    }

    /**
     * Waits for a line matching {@code match} among those that arrived after the first {@code seen} lines (see
     * {@link #count()}). Returns empty if the stream ended or the timeout passed without one.
     */
    synchronized Optional<String> awaitAfter(long seen, Predicate<String> match, Duration timeout)
            throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            long seq = total - lines.size();
            for (String l : lines) {
                if (seq++ >= seen && match.test(l)) {
                    return Optional.of(l);
                }
            }
            long left = deadline - System.nanoTime();
            if (closed || left <= 0) {
                return Optional.empty();
            }
            wait(Math.max(1, left / 1_000_000));
        }
    }

    synchronized List<String> lines() {
        return new ArrayList<>(lines);
    }

    synchronized String text() {
        StringBuilder sb = new StringBuilder();
        if (dropped > 0) {
            sb.append("[... ").append(dropped).append(" earlier lines dropped ...]\n");
        }
        for (String l : lines) {
            sb.append(l).append('\n');
        }
        return sb.toString();
    }

    /**
     * Waits for a retained line matching {@code match}. Returns empty if the stream ended or the
     * timeout passed without one.
     */
    synchronized Optional<String> await(Predicate<String> match, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            for (String l : lines) {
                if (match.test(l)) {
                    return Optional.of(l);
                }
            }
            long left = deadline - System.nanoTime();
            if (closed || left <= 0) {
                return Optional.empty();
            }
            wait(Math.max(1, left / 1_000_000));
        }
    }
}
