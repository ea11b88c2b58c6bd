package net.hybridproxy.engine.multipath.sim;

import java.util.List;
import net.hybridproxy.engine.multipath.connection.Session;
import net.hybridproxy.engine.multipath.connection.SessionConfig;
import net.hybridproxy.engine.multipath.frame.SubflowPriority;
import net.hybridproxy.engine.multipath.mib.MibCounter;
import net.hybridproxy.engine.multipath.mib.UplinkJudgements;
import org.junit.jupiter.api.Test;

class LabJudgementExperimentTest {
    private static final List<SubflowPriority> BOTH = List.of(SubflowPriority.PRIMARY, SubflowPriority.PRIMARY);
    private static final SessionConfig LATE = SessionConfig.defaults().withLateReinjection(true);

    private static SimLink lossyQueued(double mbps, double rtt, double loss) {
        SimLink l = SimLink.queued("lte", mbps, rtt, 200, 2);
        l.lossRate = loss;
        return l;
    }

    @Test
    void experiment() {
        System.out.printf("EXP alone: lte-lossy-lte %.1f, dsl-lossy-lte %.1f, lte-mixed %.1f, dsl-mixed %.1f%n",
                Bulk.singlePath(lossyQueued(100, 70, 0.005), 6, SimPair.ADAPTER_UNSENT),
                Bulk.singlePath(SimLink.queued("dsl", 8, 15, 50, 1), 6, SimPair.ADAPTER_UNSENT),
                Bulk.singlePath(lossyQueued(30, 50, 0.01), 6, SimPair.ADAPTER_UNSENT),
                Bulk.singlePath(SimLink.queued("dsl", 50, 20, 50, 1), 6, SimPair.ADAPTER_UNSENT));
        for (boolean labQueues : new boolean[] {false, true}) {
            for (String scenario : List.of("lossy-lte", "lossy-mixed")) {
                SimLink dsl;
                SimLink lte;
                if (scenario.equals("lossy-lte")) {
                    dsl = labQueues ? SimLink.queued("dsl", 8, 15, 50, 1) : SimLink.of("dsl", 8, 15, 1);
                    lte = labQueues ? SimLink.queued("lte", 100, 70, 200, 2) : SimLink.of("lte", 100, 70, 2);
                    lte.lossRate = 0.005;
                } else {
                    dsl = labQueues ? SimLink.queued("dsl", 50, 20, 50, 1) : SimLink.of("dsl", 50, 20, 1);
                    lte = labQueues ? SimLink.queued("lte", 30, 50, 200, 2) : SimLink.of("lte", 30, 50, 2);
                    lte.lossRate = 0.01;
                }
                for (SessionConfig config : List.of(SessionConfig.defaults(), LATE)) {
                    Bulk.Download run = Bulk.download(config, List.of(dsl, lte), BOTH, 6, SimPair.ADAPTER_UNSENT);
                    StringBuilder j = new StringBuilder();
                    for (Session s : run.pair().concentratorSessions) {
                        s.judgementsByUplink().forEach((u, c) -> {
                            j.append(' ').append(u).append(':');
                            for (UplinkJudgements.Kind k : UplinkJudgements.Kind.values()) {
                                j.append(k.name().toLowerCase()).append('=').append(c.count(k)).append(',');
                            }
                        });
                    }
                    System.out.printf("EXP %s labQueues=%s late=%s: %.1f Mb/s, reinjected %d of %d;%s%n", scenario,
                            labQueues, config.lateReinjection(), run.megabitsPerSecond(),
                            run.pair().concentratorCounter(MibCounter.REINJECTED_BYTES),
                            run.pair().concentratorCounter(MibCounter.DATA_BYTES_SENT), j);
                    dsl = scenario.equals("lossy-lte")
                            ? (labQueues ? SimLink.queued("dsl", 8, 15, 50, 1) : SimLink.of("dsl", 8, 15, 1))
                            : (labQueues ? SimLink.queued("dsl", 50, 20, 50, 1) : SimLink.of("dsl", 50, 20, 1));
                    lte = scenario.equals("lossy-lte")
                            ? (labQueues ? SimLink.queued("lte", 100, 70, 200, 2) : SimLink.of("lte", 100, 70, 2))
                            : (labQueues ? SimLink.queued("lte", 30, 50, 200, 2) : SimLink.of("lte", 30, 50, 2));
                    lte.lossRate = scenario.equals("lossy-lte") ? 0.005 : 0.01;
                }
            }
        }
    }
}
