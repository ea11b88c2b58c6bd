package net.hybridproxy.loadtest.lab.emu;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * What one direction of an emulated link does to packets: serialisation rate, one-way delay, jitter, random loss
 * and the byte size of the queue in front of the rate limiter.
 *
 * @param rateKbit         line rate in kbit/s; 0 means unlimited (no serialisation delay, no queue)
 * @param delayMicros      fixed one-way propagation delay
 * @param jitterMicros     each packet's delay varies uniformly within ±jitter, clipped so that packets keep their
 *                         order (a real access line does not reorder; reordering would make TCP retransmit)
 * @param lossPpm          random loss in parts per million, applied before the queue
 * @param queueLimitBytes  bytes that may wait for the rate limiter before tail drop; 0 means derived from the rate
 *                         and {@code queueMicros} ({@link #effectiveQueueLimit()})
 * @param queueMicros      the queue's length as time at line rate, when {@code queueLimitBytes} is 0; 0 means
 *                         {@link #DEFAULT_QUEUE}. Kept as time rather than bytes so that a rate change at run time
 *                         (an LTE collapse) scales the buffer with it, as a per-user buffer measured in time does
 */
public record Impairment(long rateKbit, long delayMicros, long jitterMicros, long lossPpm, long queueLimitBytes,
                         long queueMicros) {
    public static final Impairment NONE = new Impairment(0, 0, 0, 0, 0, 0);

    /** The queue in front of the rate limiter unless set otherwise: 50 ms at line rate. */
    public static final Duration DEFAULT_QUEUE = Duration.ofMillis(50);

    public Impairment {
        if (rateKbit < 0 || delayMicros < 0 || jitterMicros < 0 || queueLimitBytes < 0 || queueMicros < 0) {
            throw new IllegalArgumentException("negative impairment: rate " + rateKbit + " delay " + delayMicros
                    + " jitter " + jitterMicros + " limit " + queueLimitBytes + " queue " + queueMicros);
        }
        if (lossPpm < 0 || lossPpm > 1_000_000) {
            throw new IllegalArgumentException("loss must be 0..1000000 ppm: " + lossPpm);
        }
    }

    public static Impairment of(double rateMbit, Duration oneWayDelay) {
        return NONE.withRateMbit(rateMbit).withDelay(oneWayDelay);
    }

    public Impairment withRateMbit(double mbit) {
        return new Impairment(Math.round(mbit * 1000), delayMicros, jitterMicros, lossPpm, queueLimitBytes,
                queueMicros);
    }

    public Impairment withDelay(Duration oneWay) {
        return new Impairment(rateKbit, oneWay.toNanos() / 1000, jitterMicros, lossPpm, queueLimitBytes, queueMicros);
    }

    public Impairment withJitter(Duration jitter) {
        return new Impairment(rateKbit, delayMicros, jitter.toNanos() / 1000, lossPpm, queueLimitBytes, queueMicros);
    }

    /** Loss as a fraction, e.g. 0.005 for 0.5 %. */
    public Impairment withLoss(double fraction) {
        return new Impairment(rateKbit, delayMicros, jitterMicros, Math.round(fraction * 1_000_000), queueLimitBytes,
                queueMicros);
    }

    public Impairment withQueueLimit(long bytes) {
        return new Impairment(rateKbit, delayMicros, jitterMicros, lossPpm, bytes, queueMicros);
    }

    /** The queue's length as time at line rate (the byte limit then follows the rate, also after a change). */
    public Impairment withQueueTime(Duration queue) {
        return new Impairment(rateKbit, delayMicros, jitterMicros, lossPpm, 0, queue.toNanos() / 1000);
    }

    public double rateMbit() {
        return rateKbit / 1000.0;
    }

    public boolean rateLimited() {
        return rateKbit > 0;
    }

    /**
     * The queue limit in bytes: as configured, else the queue time ({@link #DEFAULT_QUEUE} unless set) at line rate
     * and at least 64 KiB.
     */
    public long effectiveQueueLimit() {
        if (queueLimitBytes > 0) {
            return queueLimitBytes;
        }
        long micros = queueMicros > 0 ? queueMicros : DEFAULT_QUEUE.toNanos() / 1000;
        return Math.max(64 * 1024, rateKbit * micros / 8_000);
    }

    /** The control-protocol form, {@code rate_kbit=.. delay_us=.. jitter_us=.. loss_ppm=.. limit_bytes=..}. */
    public String toWire() {
        return "rate_kbit=" + rateKbit + " delay_us=" + delayMicros + " jitter_us=" + jitterMicros + " loss_ppm="
                + lossPpm + " limit_bytes=" + queueLimitBytes + " queue_us=" + queueMicros;
    }

    /** Parses {@link #toWire()}; unknown or missing keys are errors so a typo cannot silently mean zero. */
    public static Impairment fromWire(String text) {
        Map<String, Long> v = new LinkedHashMap<>();
        for (String kv : text.strip().split("\\s+")) {
            int eq = kv.indexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException("expected key=value: " + kv);
            }
            v.put(kv.substring(0, eq).toLowerCase(Locale.ROOT), Long.parseLong(kv.substring(eq + 1)));
        }
        Impairment i = new Impairment(take(v, "rate_kbit"), take(v, "delay_us"), take(v, "jitter_us"),
                take(v, "loss_ppm"), take(v, "limit_bytes"), take(v, "queue_us"));
        if (!v.isEmpty()) {
            throw new IllegalArgumentException("unknown keys " + v.keySet());
        }
        return i;
    }

    private static long take(Map<String, Long> v, String key) {
        Long value = v.remove(key);
        if (value == null) {
            throw new IllegalArgumentException("missing " + key);
        }
        return value;
    }

    @Override
    public String toString() {
        return (rateLimited() ? rateMbit() + " Mbit/s" : "unlimited") + ", " + delayMicros / 1000.0 + " ms"
                + (jitterMicros > 0 ? " ±" + jitterMicros / 1000.0 + " ms" : "")
                + (lossPpm > 0 ? ", " + lossPpm / 10_000.0 + " % loss" : "")
                + (queueMicros > 0 && queueLimitBytes == 0 ? ", " + queueMicros / 1000 + " ms queue" : "");
    }
}
