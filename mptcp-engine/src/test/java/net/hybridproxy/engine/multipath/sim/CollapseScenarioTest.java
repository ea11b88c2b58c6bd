package net.hybridproxy.engine.multipath.sim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import net.hybridproxy.engine.multipath.connection.Session;
import net.hybridproxy.engine.multipath.connection.SessionConfig;
import net.hybridproxy.engine.multipath.frame.CapableSyn;
import net.hybridproxy.engine.multipath.frame.SubflowPriority;
import net.hybridproxy.engine.multipath.mib.MibCounter;
import net.hybridproxy.engine.multipath.mib.UplinkJudgements;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The collapse rule (engine issue item 2), with late reinjection, on the lab's links: its queues (DSL
 * 50 ms, LTE 200 ms at line rate, {@link SimLink#queued}, and in the lab's own form kept as time, {@link
 * SimLink#queueTimeNanos}) and its subflows' congestion control ({@link SimLink#bbrLike}). The rule must move what a
 * collapsed LTE holds soon enough that in-order delivery runs at DSL's rate through the collapse, and must never fire
 * on loss-free links, nor on a link whose emulator runs late (the lab at load 30-50 made a rule that trusted one rate
 * sample misjudge equal and heterogeneous links 5-10 times per download; docs/decisions.md, eighth pass).
 */
class CollapseScenarioTest {

    private static final List<SubflowPriority> BOTH = List.of(SubflowPriority.PRIMARY, SubflowPriority.PRIMARY);
    /** The collapse rule acts with late reinjection (off by default until a quiet lab run confirms it, tenth pass). */
    private static final SessionConfig LATE = SessionConfig.defaults().withLateReinjection(true);
    /** LTE 60 Mbit/s for 5 s and 3 Mbit/s for 3 s, DSL 20 Mbit/s for 8 s, over the 8 s measured. */
    private static final double OFFERED = (20.0 * 8 + 60 * 5 + 3 * 3) / 8;

    private static SimLink labLink(String name, double mbps, double rttMillis, double queueMillis, long seed,
                                   boolean bbr) {
        SimLink link = SimLink.queued(name, mbps, rttMillis, queueMillis, seed);
        link.bbrLike = bbr;
        return link;
    }

    /**
     * LTE 60 -> 3 Mbit/s for 3 s with its 200 ms queue, DSL 20 Mbit/s with 50 ms, late reinjection on (2 s before the collapse,
     * 3 s of it, 3 s after). The collapse is called about 220 ms after LTE fell (its queue drains at the old rate
     * for about 50 ms, the ACKs take 25 ms back, then two samples of a minimum RTT each); what LTE holds moves to
     * DSL, LTE gets nothing until it delivered what it held, and after the collapse its rate clears it. Measured:
     * 100 ms intervals 67 before, then 50, 4, 12, 21 and 20-27 to the end of the collapse, 70-90 after it; mean 49.1
     * of 58.6 offered (0.84), the worst interval 4.4 (9 % of the mean); without the rule (the default), 3-5 Mbit/s
     * for the whole 3 s, mean 48.6 (eighth pass). The interval at 4.4 is the time between LTE's fall and the copies'
     * arrival: the rate needs two samples of a minimum RTT, and the copies wait behind DSL's own two windows; the
     * mean's gap is the receive window before and after the collapse (67 of 80 Mbit/s; four periods of growth give
     * 79, {@link #withFourPeriodsOfReceiveWindowTheCollapseCostsUnderATenthOfTheOfferedRate}).
     */
    @Test
    void theLabsCollapseMovesWhatLteHoldsToDslAndUsesLteAgainAfterIt() {
        Collapse run = collapse(LATE, true, false);
        assertDslCarriedTheCollapse(run, 0.8);
        assertEquals(1L, run.judgements.getOrDefault("address-2 collapsed", 0L), "LTE not judged collapsed once: "
                + run.judgements);
    }

    /**
     * The same collapse with the lab's queue as the lab's emulator keeps it, as time (200 ms at the collapsed rate:
     * 75 KB, not 1.5 MB): what LTE's sender has in flight beyond it (its in-flight cap is sized for 60 Mbit/s) is
     * lost, and its retransmissions wait for backed-off timeouts. Without the rule (the default)
     * in-order delivery ran at 0-6 Mbit/s for the whole collapse and 2.5 s at nothing (mean 45.4); with it, as
     * above: DSL's rate from 300 ms into the collapse, mean 47.1 (0.80 of the offered rate), LTE used again 0.5 s
     * after the collapse (its lost retransmissions' timeouts).
     */
    @Test
    void withTheLabsQueueKeptAsTimeACollapsedLteIsLeft() {
        assertDslCarriedTheCollapse(collapse(LATE, true, true), 0.78);
    }

    /**
     * No 100 ms below 8 % of the mean, {@code ofOffered} of the offered rate at least, in-order delivery at DSL's
     * rate from 300 ms into the collapse, LTE used again after it, and LTE judged collapsed, DSL never.
     */
    private static void assertDslCarriedTheCollapse(Collapse run, double ofOffered) {
        assertTrue(run.worst >= 0.08 * run.mean, "a 100 ms interval at " + run.worst + " Mb/s, the mean " + run.mean
                + ":" + run.timeline);
        assertTrue(run.mean >= ofOffered * OFFERED, run.mean + " Mb/s of " + OFFERED + " offered:" + run.timeline);
        assertTrue(run.worstInCollapseAfter300Ms >= 0.9 * 20, "in-order delivery at " + run.worstInCollapseAfter300Ms
                + " Mb/s in the collapse with DSL's 20 Mb/s up:" + run.timeline);
        assertTrue(run.after >= 60, "after the collapse: " + run.after + " Mb/s:" + run.timeline);
        assertTrue(run.judgements.getOrDefault("address-2 collapsed", 0L) > 0, "LTE never judged collapsed: "
                + run.judgements);
        assertEquals(0L, run.judgements.getOrDefault("address-0 collapsed", 0L), "DSL judged collapsed: "
                + run.judgements);
    }

    /**
     * Item 2's goodput target, 0.9 of what the links offered, is reached when the receive window does not bind before
     * and after the collapse ({@code receive-window-periods = 4}; with two, 67 of 80 Mbit/s): measured 53.1 of 58.6
     * (0.91) with the queue kept as time, 52.6 with bytes. The worst
     * 100 ms stays at 4.0 (8 % of the mean; the issue asks 10 %): see the first test.
     */
    @ParameterizedTest(name = "queue as time {0}")
    @CsvSource({"true", "false"})
    void withFourPeriodsOfReceiveWindowTheCollapseCostsUnderATenthOfTheOfferedRate(boolean queueAsTime) {
        Collapse run = collapse(LATE.withReceiveWindowPeriods(4), true, queueAsTime);
        assertTrue(run.mean >= 0.895 * OFFERED, run.mean + " Mb/s of " + OFFERED + " offered:" + run.timeline);
        assertTrue(run.worst >= 0.07 * run.mean, "a 100 ms interval at " + run.worst + " Mb/s, the mean " + run.mean
                + ":" + run.timeline);
        assertEquals(1L, run.judgements.getOrDefault("address-2 collapsed", 0L), "LTE not judged collapsed once: "
                + run.judgements);
    }

    /**
     * The collapse rule on its own ({@link SessionConfig#collapseReinjection()}, without late reinjection's overdue
     * heads, holes and queued heads, whose copies cost the lab's lossy paths: docs/decisions.md, tenth pass) does
     * what it does with late reinjection: LTE judged collapsed once, DSL's rate through the collapse, and with four
     * receive-window periods at least 0.895 of the offered rate (measured 0.906 with the queue as time, 0.896 in
     * bytes; 0.80 and 0.84 with two periods). With four periods and no collapse rule, the queue kept as time leaves
     * in-order delivery at nothing for 2.6 s (mean 47.2, worst 0.0), which is why four periods need the rule.
     */
    @ParameterizedTest(name = "queue as time {0}")
    @CsvSource({"true", "false"})
    void theCollapseRuleAloneCarriesTheCollapseAsLateReinjectionDoes(boolean queueAsTime) {
        SessionConfig alone = SessionConfig.defaults().withCollapseReinjection(true);
        Collapse two = collapse(alone, true, queueAsTime);
        assertDslCarriedTheCollapse(two, queueAsTime ? 0.78 : 0.8);
        Collapse four = collapse(alone.withReceiveWindowPeriods(4), true, queueAsTime);
        assertTrue(four.mean >= 0.895 * OFFERED, four.mean + " Mb/s of " + OFFERED + " offered:" + four.timeline);
        assertTrue(four.worst >= 0.07 * four.mean, "a 100 ms interval at " + four.worst + " Mb/s, the mean "
                + four.mean + ":" + four.timeline);
        assertEquals(Map.of("address-2 collapsed", 1L), four.judgements, "LTE judged collapsed once, nothing else");
    }

    /**
     * LTE's sender holds the collapsed rate after the link is back, as Linux BBR did in the lab (its policer mode from
     * 2 s into the collapse until 2.2 s after it, {@link Bulk#lteCollapse(SimPair, SimLink, boolean)}): the session
     * asks the adapter once to restart LTE's congestion control, after the restore (the queue drained, bytes
     * waiting, room in the window, the rate still low), and LTE carries its rate again. Measured, the first 2 s after
     * the restore: 51.4-64.3 Mbit/s with the restart, 8.2-13.0 without it, 58.7-60.8 when the sender holds nothing
     * (the simulator's lost retransmissions wait for backed-off timeouts, so LTE's held bytes arrive 0.5-0.9 s after
     * the restore in every case, and the restart comes 0.6-0.8 s after it). Whether the collapse rule may move data or not: the restart follows the collapse
     * either way; on the same collapse without a held rate, and on steady links, nothing is restarted (the other
     * tests: their judgements hold no {@code sender_limited}).
     */
    @ParameterizedTest(name = "queue as time {0}, collapse rule {1}")
    @CsvSource({"true, true", "false, true", "true, false"})
    void aSenderThatKeepsTheCollapsedRateIsRestartedOnceTheLinkIsBack(boolean queueAsTime, boolean rule) {
        SessionConfig config = SessionConfig.defaults().withCollapseReinjection(rule).withReceiveWindowPeriods(4);
        Collapse held = collapse(config, true, queueAsTime, true, false);
        Collapse restarted = collapse(config, true, queueAsTime, true, true);
        assertTrue(held.firstTwoSecondsAfter < 30, "the model's sender did not hold: " + held.firstTwoSecondsAfter
                + " Mb/s:" + held.timeline);
        assertEquals(1, restarted.restarts, "restarts: " + restarted.judgements);
        assertEquals(1L, restarted.judgements.getOrDefault("address-2 sender_limited", 0L), "" + restarted.judgements);
        // 0.6-0.8 s after the restore here, whose lost retransmissions wait for backed-off timeouts (Linux's RACK
        // repairs them within an RTT); 0.3-0.4 s in the lab (docs/decisions.md, "the LTE collapse, twelfth pass").
        assertTrue(restarted.restartAfterRestoreMs >= 0 && restarted.restartAfterRestoreMs <= 1000,
                "restarted " + restarted.restartAfterRestoreMs + " ms after the restore");
        assertTrue(restarted.firstTwoSecondsAfter >= 45, "after the restore: " + restarted.firstTwoSecondsAfter
                + " Mb/s:" + restarted.timeline);
    }

    /**
     * The collapse rule alone on loss-free and lossy links (the lab's queues, BBR and Reno-like subflows, four
     * receive-window periods as well as two): no path judged collapsed, and the download is the one the same
     * configuration gives without the rule, byte for byte (what the silence rule reinjects, which acts by default,
     * included: 3.6 MB on the Reno lossy-lte, whose lost retransmissions wait for backed-off timeouts).
     */
    @ParameterizedTest(name = "{0}, BBR {1}, receive window periods {2}")
    @CsvSource({"equal, true, 2", "equal, false, 2", "heterogeneous, true, 2", "heterogeneous, false, 2",
            "equal, true, 4", "heterogeneous, true, 4", "heterogeneous, false, 4", "lossy-lte, true, 4",
            "lossy-mixed, true, 4", "lossy-lte, false, 4", "lossy-mixed, false, 4"})
    void theCollapseRuleAloneJudgesNoSteadyLinkCollapsed(String scenario, boolean bbr, int periods) {
        SessionConfig without = SessionConfig.defaults().withReceiveWindowPeriods(periods);
        SessionConfig config = without.withCollapseReinjection(true);
        Bulk.Download run = Bulk.download(config, steadyLinks(scenario, bbr), BOTH, 6, SimPair.ADAPTER_UNSENT);
        assertNeverCollapsed(scenario + (bbr ? ", BBR" : ", Reno") + ", collapse rule alone, " + periods
                + " periods", config, run);
        Bulk.Download reference = Bulk.download(without, steadyLinks(scenario, bbr), BOTH, 6, SimPair.ADAPTER_UNSENT);
        assertEquals(reference.pair().concentratorCounter(MibCounter.REINJECTED_BYTES),
                run.pair().concentratorCounter(MibCounter.REINJECTED_BYTES), "reinjected, against the same without it");
        assertEquals(reference.megabitsPerSecond(), run.megabitsPerSecond(), 1e-9, "against the same without it");
    }

    /**
     * A Reno-like LTE on the lossy-mixed links repairs a loss while the session's receive window waits behind the
     * hole: its connection has delivered (SACKed) all it was handed and sits idle, then gets a window's worth at once.
     * Its delivery rate over that idle time is no rate the path can carry, and the collapse rule must not take it for
     * one. With version 3, whose aggregate fills the receive window this case needs, the rule judged this LTE
     * collapsed once while its rate samples counted SACKed bytes as held (docs/decisions.md, "large frames by
     * default, second attempt").
     */
    @Test
    void aRenoLteIdleBehindItsOwnHoleIsNotJudgedCollapsedUnderLargeFrames() {
        SessionConfig config = SessionConfig.defaults().withReceiveWindowPeriods(4).withCollapseReinjection(true);
        Bulk.Download run = Bulk.download(config, steadyLinks("lossy-mixed", false), BOTH, 6, SimPair.ADAPTER_UNSENT,
                CapableSyn.VERSION_LARGE_FRAMES);
        assertNeverCollapsed("lossy-mixed, Reno, collapse rule alone, 4 periods, version 3", config, run);
    }

    private static List<SimLink> steadyLinks(String scenario, boolean bbr) {
        List<SimLink> links = switch (scenario) {
            case "lossy-lte" -> List.of(labLink("dsl", 8, 15, 50, 1, bbr), labLink("lte", 100, 70, 200, 2, bbr));
            case "lossy-mixed" -> List.of(labLink("dsl", 50, 20, 50, 1, bbr), labLink("lte", 30, 50, 200, 2, bbr));
            default -> lossFree(scenario, bbr);
        };
        links.get(1).lossRate = scenario.equals("lossy-lte") ? 0.005 : scenario.equals("lossy-mixed") ? 0.01 : 0;
        return links;
    }

    private record Collapse(double mean, double worst, double worstInCollapseAfter300Ms, double after, String timeline,
                            Map<String, Long> judgements, double firstTwoSecondsAfter, int restarts,
                            long restartAfterRestoreMs) {
    }

    private static Collapse collapse(SessionConfig config, boolean bbr, boolean queueAsTime) {
        return collapse(config, bbr, queueAsTime, false, true);
    }

    private static Collapse collapse(SessionConfig config, boolean bbr, boolean queueAsTime,
                                     boolean senderHoldsCollapsedRate, boolean adapterRestarts) {
        SimLink dsl = labLink("dsl", 20, 20, 50, 1, bbr);
        SimLink lte = labLink("lte", 60, 50, 200, 2, bbr);
        if (queueAsTime) {
            dsl.queueTimeNanos = 50 * SimPair.MS;
            lte.queueTimeNanos = 200 * SimPair.MS;
        }
        SimPair pair = new SimPair(config, List.of(dsl, lte), BOTH);
        pair.subflowUnsentBytes = SimPair.ADAPTER_UNSENT;
        pair.restartsCongestionControl = adapterRestarts;
        Bulk.CollapseRun collapseRun = Bulk.lteCollapse(pair, lte, senderHoldsCollapsedRate);
        long start = collapseRun.start();
        long collapsedAt = collapseRun.collapsedAt();
        long recovered = collapseRun.recovered();
        long end = collapseRun.end();
        StreamSink sink = collapseRun.sink();
        assertNull(sink.corruption);

        StringBuilder timeline = new StringBuilder();
        double worst = Double.MAX_VALUE;
        double worstInCollapse = Double.MAX_VALUE;
        for (long t = start; t + 100 * SimPair.MS <= end; t += 100 * SimPair.MS) {
            double mbps = sink.megabitsPerSecond(t, t + 100 * SimPair.MS);
            worst = Math.min(worst, mbps);
            if (t >= collapsedAt + 300 * SimPair.MS && t + 100 * SimPair.MS <= recovered) {
                worstInCollapse = Math.min(worstInCollapse, mbps);
            }
            timeline.append(String.format(Locale.ROOT, " %.0f", mbps));
        }
        Map<String, Long> judgements = judgements(pair);
        Collapse run = new Collapse(sink.megabitsPerSecond(start, end), worst, worstInCollapse,
                sink.megabitsPerSecond(recovered + SimPair.SECOND, end), timeline.toString(), judgements,
                sink.megabitsPerSecond(recovered, recovered + 2 * SimPair.SECOND), pair.congestionControlRestarts,
                pair.lastCongestionControlRestartAt < 0 ? Long.MIN_VALUE
                        : (pair.lastCongestionControlRestartAt - recovered) / SimPair.MS);
        System.out.printf(Locale.ROOT, "the lab's collapse, %s, queue as time %s, late reinjection %s, receive window"
                        + " periods %d%s: mean %.1f Mb/s, worst 100 ms %.1f, after it %.1f, its first 2 s %.1f;"
                        + " reinjected %d of %d bytes; %s; restarts %d, the last %d ms after the restore;"
                        + " 100 ms intervals:%s%n", bbr ? "BBR" : "Reno", queueAsTime, config.lateReinjection(),
                config.receiveWindowPeriods(), senderHoldsCollapsedRate ? ", LTE's sender holds the collapsed rate"
                        + (adapterRestarts ? "" : ", never restarted") : "", run.mean, run.worst, run.after,
                run.firstTwoSecondsAfter, pair.concentratorCounter(MibCounter.REINJECTED_BYTES),
                pair.concentratorCounter(MibCounter.DATA_BYTES_SENT), judgements, run.restarts,
                run.restartAfterRestoreMs, run.timeline);
        return run;
    }

    /**
     * Loss-free equal (50/20 + 50/20) and heterogeneous (50/20 + 30/50 with LTE's 200 ms queue) links, BBR-like and
     * Reno-like subflows, by default and with late reinjection: no path is judged collapsed and (almost) nothing is
     * sent twice; by default nothing at all. The lab's quiet baseline had no judgement on these rows.
     */
    @ParameterizedTest(name = "{0}, BBR {1}, late reinjection {2}")
    @CsvSource({"equal, true, false", "equal, false, false", "heterogeneous, true, false", "heterogeneous, false, false",
            "equal, true, true", "equal, false, true", "heterogeneous, true, true", "heterogeneous, false, true"})
    void onLossFreeLinksNoPathIsJudgedCollapsed(String scenario, boolean bbr, boolean late) {
        SessionConfig config = SessionConfig.defaults().withLateReinjection(late);
        Bulk.Download run = Bulk.download(config, lossFree(scenario, bbr), BOTH, 6, SimPair.ADAPTER_UNSENT);
        assertNeverCollapsed(scenario + (bbr ? ", BBR" : ", Reno"), config, run);
        if (!late) {
            assertEquals(0, run.pair().concentratorCounter(MibCounter.REINJECTED_BYTES), "reinjected by default");
        }
    }

    /**
     * The same links with a late link emulator: every 700 ms one direction of one link (the downlink of DSL, of
     * LTE, or of both in turn) hands nothing on for 200 ms and then everything at once, as the lab's user-space
     * emulator did when it was starved (125-255 ms late at load 30). A path that delivers nothing for a while and
     * then a burst did not collapse; no path may be judged collapsed, by default or with late reinjection.
     */
    @ParameterizedTest(name = "{0}, BBR {1}, late reinjection {2}")
    @CsvSource({"equal, true, false", "equal, false, false", "heterogeneous, true, false", "heterogeneous, false, false",
            "equal, true, true", "equal, false, true", "heterogeneous, true, true", "heterogeneous, false, true"})
    void aLateLinkEmulatorIsNotACollapse(String scenario, boolean bbr, boolean late) {
        SessionConfig config = SessionConfig.defaults().withLateReinjection(late);
        List<SimLink> links = lossFree(scenario, bbr);
        SimPair pair = new SimPair(config, links, BOTH);
        pair.subflowUnsentBytes = SimPair.ADAPTER_UNSENT;
        pair.runFor(SimPair.SECOND / 2);
        pair.onConcentratorStream(id -> pair.sendFromConcentrator(id, Long.MAX_VALUE, 0));
        long id = pair.openStream(100);
        long start = pair.now() + Bulk.WARMUP;
        long end = start + 6 * SimPair.SECOND;
        int turn = 0;
        for (long at = pair.now() + SimPair.SECOND; at < end; at += 700 * SimPair.MS, turn++) {
            long from = at;
            int which = turn % 3; // DSL, LTE, both
            pair.queue.at(from, () -> {
                for (int i = 0; i < links.size(); i++) {
                    if (which == 2 || which == i) {
                        links.get(i).lateUntil[1] = from + 200 * SimPair.MS;
                    }
                }
            });
        }
        pair.runUntil(end);
        StreamSink sink = pair.cpeSinks.get(id);
        assertNull(sink.corruption);
        assertNeverCollapsed(scenario + (bbr ? ", BBR" : ", Reno") + ", emulator 200 ms late every 700 ms", config,
                new Bulk.Download(pair, sink, start, end));
    }

    private static List<SimLink> lossFree(String scenario, boolean bbr) {
        return scenario.equals("equal")
                ? List.of(labLink("dsl", 50, 20, 50, 1, bbr), labLink("lte", 50, 20, 50, 2, bbr))
                : List.of(labLink("dsl", 50, 20, 50, 1, bbr), labLink("lte", 30, 50, 200, 2, bbr));
    }

    private static void assertNeverCollapsed(String what, SessionConfig config, Bulk.Download run) {
        SimPair pair = run.pair();
        Map<String, Long> judgements = judgements(pair);
        long sent = pair.concentratorCounter(MibCounter.DATA_BYTES_SENT);
        long reinjected = pair.concentratorCounter(MibCounter.REINJECTED_BYTES);
        System.out.printf(Locale.ROOT, "%s, late reinjection %s: %.1f Mb/s, reinjected %d of %d bytes, %s%n", what,
                config.lateReinjection(), run.megabitsPerSecond(), reinjected, sent, judgements);
        judgements.forEach((key, count) -> assertTrue(count == 0 || !key.endsWith(" collapsed")
                        && !key.endsWith(" sender_limited"),
                what + ": " + key + " " + count + ", " + judgements));
        assertEquals(0, pair.cpe.mib().get(MibCounter.LATE_REINJECTIONS), what + ": cpe judged a path late");
    }

    /** The concentrator's judgements by uplink and rule ({@code address-0 collapsed}, ...), over all its sessions. */
    static Map<String, Long> judgements(SimPair pair) {
        Map<String, Long> judgements = new TreeMap<>();
        for (Session session : pair.concentratorSessions) {
            session.judgementsByUplink().forEach((uplink, counts) -> {
                for (UplinkJudgements.Rule kind : UplinkJudgements.Rule.values()) {
                    if (counts.count(kind) > 0) {
                        judgements.merge(uplink + " " + kind.name().toLowerCase(Locale.ROOT), counts.count(kind),
                                Long::sum);
                    }
                }
            });
        }
        return judgements;
    }
}
