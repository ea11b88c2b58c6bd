package net.hybridproxy.engine.multipath.subflow;

/**
 * The life of a subflow.
 *
 * <pre>
 *  CONNECTING --connected--> WAITING_FOR_SESSION --session established--> JOIN_SENT
 *      |                         |  (cpe: sends CAPABLE_SYN if no session exists yet)
 *      |                         v
 *      |                     CAPABLE_SENT --SYNACK verified--> ATTACHED
 *  (concentrator) the endpoint runs both handshakes; a subflow exists from ATTACHED on
 *  JOIN_SENT --SYNACK verified--> ATTACHED
 *  ATTACHED <--probe answered / unanswered--> STALLED
 *  any --protocol error, reset, stall too long, TCP closed--> CLOSING --> CLOSED
 * </pre>
 */
public enum SubflowState {
    /** cpe: the adapter is opening the TCP connection. */
    CONNECTING,
    /** cpe: connected, waiting for the session's first subflow to complete the capable handshake. */
    WAITING_FOR_SESSION,
    /** cpe: CAPABLE_SYN sent on this subflow. */
    CAPABLE_SENT,
    /** cpe: JOIN_SYN sent. */
    JOIN_SENT,
    /** Authenticated and carrying data. */
    ATTACHED,
    /** Attached, but a probe went unanswered: carries no new data; its data was reinjected. */
    STALLED,
    /** A SUBFLOW_RESET is queued; the adapter closes the connection after writing it. */
    CLOSING,
    /** Gone. */
    CLOSED;

    /** Whether the subflow is past authentication and may carry stream data. */
    public boolean isAttached() {
        return this == ATTACHED || this == STALLED;
    }
}
