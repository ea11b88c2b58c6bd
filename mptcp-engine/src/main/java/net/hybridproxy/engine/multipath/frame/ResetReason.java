package net.hybridproxy.engine.multipath.frame;

/**
 * Why a subflow or a stream is closed abruptly: the reason codes of RFC 8684 §3.6 (MP_TCPRST),
 * carried in {@link SubflowReset} and {@link FastClose}.
 *
 * <p>RFC 8684 §3.6 (paraphrased): A host sends a TCP RST in order to close a subflow or reject an attempt to
 * open a subflow (MP_JOIN). In order to let the receiving host know why a subflow is being closed
 * or rejected, the TCP RST packet MAY include the MP_TCPRST option. Codes this implementation
 * does not know decode to {@link #UNSPECIFIED}, as an unknown reason carries no rule.
 */
public enum ResetReason {
    /** 0x00: "Unspecified error". */
    UNSPECIFIED(0x00),
    /** 0x01: "MPTCP-specific error": a malformed frame, a failed MAC, an unexpected frame. */
    PROTOCOL_ERROR(0x01),
    /** 0x02: "Lack of resources": a bound was reached (subflows, streams, sessions). */
    LACK_OF_RESOURCES(0x02),
    /** 0x03: "Administratively prohibited": the peer failed authentication. */
    ADMINISTRATIVELY_PROHIBITED(0x03),
    /** 0x04: "Too much outstanding data". */
    TOO_MUCH_OUTSTANDING_DATA(0x04),
    /** 0x05: "Unacceptable performance": the path manager gave up on a stalled subflow. */
    UNACCEPTABLE_PERFORMANCE(0x05),
    /** 0x06: "Middlebox interference". */
    MIDDLEBOX_INTERFERENCE(0x06);

    private final int code;

    ResetReason(int code) {
        this.code = code;
    }

    /** The one-byte code on the wire. */
    public int code() {
        return code;
    }

    /** The reason for a code on the wire; unknown codes are {@link #UNSPECIFIED}. */
    public static ResetReason fromCode(int code) {
        for (ResetReason reason : values()) {
            if (reason.code == code) {
                return reason;
            }
        }
        return UNSPECIFIED;
    }
}
