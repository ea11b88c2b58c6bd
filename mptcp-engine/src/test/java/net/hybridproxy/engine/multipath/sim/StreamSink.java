package net.hybridproxy.engine.multipath.sim;

import java.util.ArrayList;
import java.util.List;

/** A receiving application: checks every byte against the {@link StreamBytes} and logs delivery over time. */
final class StreamSink {

    final long streamId;
    long received;
    boolean ended;
    long firstByteAt = -1;
    final List<long[]> log = new ArrayList<>();
    String corruption;

    StreamSink(long streamId) {
        this.streamId = streamId;
    }

    void accept(byte[] bytes, int length, long now) {
        if (length > 0 && firstByteAt < 0) {
            firstByteAt = now;
        }
        for (int i = 0; i < length && corruption == null; i++) {
            if (bytes[i] != StreamBytes.at(streamId, received + i)) {
                corruption = "stream " + streamId + " byte " + (received + i) + " is wrong";
            }
        }
        received += length;
        if (!log.isEmpty() && log.get(log.size() - 1)[0] == now) {
            log.get(log.size() - 1)[1] = received;
        } else {
            log.add(new long[] {now, received});
        }
    }

    /** Bytes received by time {@code t}. */
    long receivedAt(long t) {
        long bytes = 0;
        for (long[] point : log) {
            if (point[0] > t) {
                break;
            }
            bytes = point[1];
        }
        return bytes;
    }

    /** Goodput between two times, megabits per second. */
    double megabitsPerSecond(long from, long to) {
        return (receivedAt(to) - receivedAt(from)) * 8 / ((to - from) / 1e9) / 1e6;
    }

    /** The longest time between two deliveries after {@code from}, nanoseconds. */
    long longestGapAfter(long from, long until) {
        long last = from;
        long gap = 0;
        for (long[] point : log) {
            if (point[0] < from) {
                continue;
            }
            if (point[0] > until) {
                break;
            }
            gap = Math.max(gap, point[0] - last);
            last = point[0];
        }
        return Math.max(gap, until - last);
    }
}
