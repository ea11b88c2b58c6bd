package net.hybridproxy.engine.multipath.frame;

/**
 * How a subflow's uplink should be used, carried in {@link CapableSyn}, {@link JoinSyn} and
 * {@link MpPrio}.
 *
 * <p>RFC 8684 has one bit for this (B, "backup"); §3.3.8 (paraphrased): the sender would prefer the other host
 * not to send data over this subflow unless there are no non-backup subflows available. A
 * hybrid-access operator needs a third class between "always" and "only on failure": an uplink
 * that carries traffic only when the primaries are saturated (LTE next to DSL). The wire field is
 * one byte so that both ends' schedulers see the same classes; {@link #BACKUP} keeps the RFC's
 * meaning exactly.
 */
public enum SubflowPriority {
    /** Carries traffic whenever it has room. */
    PRIMARY(0),
    /** Carries traffic when the primaries are saturated (the {@code primary-first} scheduler). */
    OVERFLOW(1),
    /** RFC 8684 backup: carries traffic only when no primary or overflow subflow is usable. */
    BACKUP(2);

    private final int code;

    SubflowPriority(int code) {
        this.code = code;
    }

    public int code() {
        return code;
    }

    static SubflowPriority fromCode(int code, String frame) throws FrameException {
        for (SubflowPriority p : values()) {
            if (p.code == code) {
                return p;
            }
        }
        throw new FrameException(frame + " has priority " + code + "; known are 0 (primary), 1 (overflow), 2 (backup)");
    }
}
