package net.hybridproxy.loadtest.bench;

import net.hybridproxy.loadtest.lab.emu.Impairment;

import java.time.Duration;
import java.util.List;

/**
 * One benchmark situation: what the two uplinks are like (rate and RTT each way, loss), what goes wrong during the
 * run, and what load is offered.
 *
 * @param offeredFractionOfDsl for offered-load scenarios, the download rate the server paces itself to as a fraction
 *                             of the DSL rate; 0 means as fast as possible
 * @param holdConnections      for the scale scenario, how many concurrent connections to open; 0 otherwise
 */
record Scenario(String name, String title, Impairment dsl, Impairment lte, Fault fault, double offeredFractionOfDsl,
                int holdConnections) {

    enum Fault {
        NONE,
        /** A middlebox blanks the MPTCP option on the DSL path from the start. */
        STRIP_MPTCP_ON_DSL,
        /** DSL drops everything, staying up, from {@link #BLACKHOLE_AT} into the download until its end. */
        BLACKHOLE_DSL,
        /** LTE falls to {@link #COLLAPSED_LTE_MBIT} from {@link #BLACKHOLE_AT} for {@link #COLLAPSE_FOR}, then recovers. */
        LTE_COLLAPSE
    }

    /** The LTE rate during a collapse (the userspace engine issue: 60 to 3 Mbit/s for 3 s). */
    static final double COLLAPSED_LTE_MBIT = 3;

    static final Duration COLLAPSE_FOR = Duration.ofSeconds(3);

    /** Late enough for slow start to be over at these rates and RTTs, early enough to leave time to recover. */
    static final Duration BLACKHOLE_AT = Duration.ofSeconds(2);

    /** Sum of the downlink rates in Mbit/s (0 when unlimited). */
    double linkSumMbit() {
        return dsl.rateMbit() + lte.rateMbit();
    }

    boolean unlimited() {
        return !dsl.rateLimited() && !lte.rateLimited();
    }

    private static Impairment link(double mbit, long rttMs) {
        return Impairment.of(mbit, Duration.ofMillis(rttMs).dividedBy(2));
    }

    /**
     * How long the LTE link's queue is at line rate. A cellular downlink buffers per user in the base station (PDCP
     * and RLC queues, with the radio's own retransmissions below), and measurements of bulk downloads over LTE
     * found queueing delays of hundreds of milliseconds, not the 50 ms of the lab's default; a 50 ms tail-drop queue
     * is one bandwidth-delay product at 30 Mbit/s and 50 ms, which a BBR sender (in-flight cap 2 BDP) overruns
     * every probe cycle. 200 ms holds BBR's start-up overshoot at the scenarios' RTTs (up to 2 BDP queued at 70 ms)
     * and is still on the short side of what was measured. See docs/decisions.md, "the lab's LTE queue".
     */
    static final Duration LTE_QUEUE = Duration.ofMillis(200);

    /** An LTE link: rate, RTT and the cellular queue ({@link #LTE_QUEUE}). */
    private static Impairment lte(double mbit, long rttMs) {
        return link(mbit, rttMs).withQueueTime(LTE_QUEUE);
    }

    static final Scenario EQUAL = new Scenario("equal", "equal links 50M/20ms + 50M/20ms",
            link(50, 20), link(50, 20), Fault.NONE, 0, 0);
    static final Scenario HETEROGENEOUS = new Scenario("heterogeneous", "DSL 50M/20ms + LTE 30M/50ms",
            link(50, 20), lte(30, 50), Fault.NONE, 0, 0);
    static final Scenario LOSSY_LTE = new Scenario("lossy-lte", "DSL 8M/15ms + LTE 100M/70ms, 0.5% loss on LTE",
            link(8, 15), lte(100, 70).withLoss(0.005), Fault.NONE, 0, 0);
    static final Scenario LOSSY_MIXED = new Scenario("lossy-mixed", "DSL 50M/20ms + LTE 30M/50ms, 1% loss on LTE",
            link(50, 20), lte(30, 50).withLoss(0.01), Fault.NONE, 0, 0);
    static final Scenario LTE_COLLAPSE = new Scenario("lte-collapse", "LTE 60M/50ms falls to 3M for 3 s, DSL 20M/20ms",
            link(20, 20), lte(60, 50), Fault.LTE_COLLAPSE, 0, 0);
    static final Scenario STRIPPING = new Scenario("stripping", "MPTCP option stripped on DSL (50M/20ms + 30M/50ms)",
            link(50, 20), lte(30, 50), Fault.STRIP_MPTCP_ON_DSL, 0, 0);
    static final Scenario BLACKHOLE = new Scenario("blackhole", "DSL blackholed mid-download (50M/20ms + 30M/50ms)",
            link(50, 20), lte(30, 50), Fault.BLACKHOLE_DSL, 0, 0);
    static final Scenario OFFERED_50 = new Scenario("offered-50", "offered 50% of DSL (50M/20ms + 30M/50ms)",
            link(50, 20), lte(30, 50), Fault.NONE, 0.5, 0);
    static final Scenario OFFERED_120 = new Scenario("offered-120", "offered 120% of DSL (50M/20ms + 30M/50ms)",
            link(50, 20), lte(30, 50), Fault.NONE, 1.2, 0);
    static final Scenario UNLIMITED = new Scenario("unlimited", "unlimited links, no delay (CPU ceiling)",
            Impairment.NONE, Impairment.NONE, Fault.NONE, 0, 0);
    static final Scenario CONNECTIONS_10K = new Scenario("conn-10k", "10k concurrent connections (50M/20ms + 30M/50ms)",
            link(50, 20), lte(30, 50), Fault.NONE, 0, 10_000);

    static final List<Scenario> QUICK = List.of(EQUAL, HETEROGENEOUS, STRIPPING, BLACKHOLE);
    static final List<Scenario> FULL = List.of(EQUAL, HETEROGENEOUS, LOSSY_LTE, STRIPPING, BLACKHOLE, OFFERED_50,
            OFFERED_120, UNLIMITED, CONNECTIONS_10K, LOSSY_MIXED, LTE_COLLAPSE);

    /** The stall series (bin/benchmark stalls): heterogeneous rates, and unlimited links. */
    static final List<Scenario> STALL_SERIES = List.of(HETEROGENEOUS, UNLIMITED);
    /** Suite "steady": CPU per GB and peak RSS in steady state, at a typical rate and at the ceiling. */
    static final List<Scenario> STEADY = List.of(HETEROGENEOUS, UNLIMITED);
    /** Suite "setup": the setup rate and cost per connection alone, on equal links (the 32-client comparison). */
    static final List<Scenario> SETUP = List.of(EQUAL);

    static Scenario byName(String name) {
        return FULL.stream().filter(s -> s.name.equals(name)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("unknown scenario " + name + "; known: "
                        + FULL.stream().map(Scenario::name).toList()));
    }
}
