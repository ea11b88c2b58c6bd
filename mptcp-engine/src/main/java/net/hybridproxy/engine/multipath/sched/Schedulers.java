package net.hybridproxy.engine.multipath.sched;

import java.util.List;

/** The named schedulers, as configuration refers to them. */
public final class Schedulers {

    /** Every name {@link #create} accepts. */
    public static final List<String> NAMES = List.of(LowestRttScheduler.NAME, RoundRobinScheduler.NAME,
            RedundantScheduler.NAME, EcfScheduler.NAME, PrimaryFirstScheduler.NAME);

    private Schedulers() {
    }

    /**
     * A fresh scheduler (one per session: schedulers keep state).
     *
     * @param name              one of {@link #NAMES}
     * @param overflowBudget    spill-over bytes per period for {@code primary-first}, or
     *                          {@code Long.MAX_VALUE} for none
     * @param budgetPeriodNanos the budget's period
     * @throws IllegalArgumentException for an unknown name, listing the known ones
     */
    public static Scheduler create(String name, long overflowBudget, long budgetPeriodNanos) {
        return switch (name) {
            case LowestRttScheduler.NAME -> new LowestRttScheduler();
            case RoundRobinScheduler.NAME -> new RoundRobinScheduler();
            case RedundantScheduler.NAME -> new RedundantScheduler();
            case EcfScheduler.NAME -> new EcfScheduler();
            case PrimaryFirstScheduler.NAME -> overflowBudget == Long.MAX_VALUE ? new PrimaryFirstScheduler()
                    : new PrimaryFirstScheduler(overflowBudget, budgetPeriodNanos);
            default -> throw new IllegalArgumentException("unknown scheduler '" + name + "'; known are " + NAMES);
        };
    }
}
