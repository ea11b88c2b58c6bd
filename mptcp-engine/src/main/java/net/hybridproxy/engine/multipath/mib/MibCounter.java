package net.hybridproxy.engine.multipath.mib;

/**
 * Everything the engine counts, one line each (the counterpart of Linux {@code net/mptcp/mib.h}).
 * The adapter exports them as Prometheus counters; the names are bounded by this enum.
 */
public enum MibCounter {
    /** Sessions whose capable handshake completed (both proofs verified). */
    SESSIONS_ESTABLISHED,
    /** CAPABLE_SYN naming a key id the concentrator does not know. */
    CAPABLE_UNKNOWN_KEY_ID,
    /** CAPABLE_ACK (at the concentrator) or CAPABLE_SYNACK (at the cpe) whose proof did not verify. */
    CAPABLE_PROOF_FAILED,
    /** CAPABLE_SYN with a version this implementation does not speak. */
    CAPABLE_BAD_VERSION,
    /** cpe: a CAPABLE_SYN of version 3 refused as a protocol error (a version 2 concentrator); version 2 offered next. */
    CAPABLE_VERSION_FALLBACKS,
    /** JOIN_SYN whose token names no session (answered like any other, so that tokens cannot be probed). */
    JOIN_NO_TOKEN,
    /** Connections whose capable or join handshake did not complete within the handshake timeout. */
    HANDSHAKES_TIMED_OUT,
    /** Connections refused at once because the pending-handshake quota (total or per source) was full. */
    HANDSHAKES_REFUSED_QUOTA,
    /** Authenticated sessions refused because their key already holds its maximum of sessions. */
    SESSIONS_REFUSED_KEY_LIMIT,
    /** JOIN_SYNACK or JOIN_ACK whose HMAC did not verify: the subflow was closed, never attached. */
    JOIN_HMAC_FAILED,
    /** Subflows refused because the session already has its maximum. */
    JOIN_REFUSED_LIMIT,
    /** Subflows attached to a session (initial and joined). */
    SUBFLOWS_ATTACHED,
    /** Subflows closed because of a malformed or unexpected frame. */
    SUBFLOW_PROTOCOL_ERRORS,
    /** Subflows the peer closed with SUBFLOW_RESET. */
    SUBFLOW_RESETS_RECEIVED,
    /** Subflows declared stalled: a probe went unanswered for the stall timeout. */
    SUBFLOW_STALLS,
    /** Stalled subflows that answered again. */
    SUBFLOW_RECOVERIES,
    /** Subflows closed after staying stalled too long. */
    SUBFLOW_STALL_CLOSES,
    /** DATA payload bytes sent, first transmissions and retransmissions. */
    DATA_BYTES_SENT,
    /** Version 3: pieces of overdue large DATA frames handed on before the frame was complete. */
    LARGE_FRAME_PIECES_RECEIVED,
    /** DATA payload bytes sent again on another subflow after their subflow failed or stalled. */
    REINJECTED_BYTES,
    /** Times a subflow's held segments were reinjected because it delivered them too slowly (its rate collapsed). */
    LATE_REINJECTIONS,
    /**
     * Times the segment in-order delivery waited for was reinjected alone, past its deadline: its subflow's TCP was
     * repairing it as a hole (what was sent after it arrived), or it sat behind a queue on a subflow still
     * delivering at its usual rate.
     */
    HOLE_REINJECTIONS,
    /** Segments sent again because the receive window blocked on them (Raiciu et al.). */
    OPPORTUNISTIC_RETRANSMITS,
    /** Times a slow subflow was penalised after an opportunistic retransmission. */
    PENALISATIONS,
    /** DATA payload bytes sent as redundant copies. */
    REDUNDANT_BYTES,
    /** Received DATA bytes dropped as duplicates by data sequence number. */
    DUPLICATE_BYTES_RECEIVED,
    /** Received DATA bytes dropped because they lay beyond the advertised window. */
    BEYOND_WINDOW_BYTES_RECEIVED,
    /** DATA payload bytes delivered in order to the application. */
    DATA_BYTES_DELIVERED,
    /**
     * Receiver: nanoseconds streams held data out of order, waiting for the segment in-order delivery needs (summed
     * over streams): the cost of the data-level ordering across subflows.
     */
    HEAD_WAIT_NANOS,
    /**
     * Sender: nanoseconds streams had data written that the peer's receive window did not let them send (summed over
     * streams), seen at each transmit turn.
     */
    WINDOW_LIMITED_NANOS,
    /**
     * Sender: nanoseconds streams' send buffers were full (the application's writes refused) until a DATA_ACK freed
     * room, summed over streams.
     */
    SEND_BUFFER_LIMITED_NANOS,
    /** DATA_ACK frames sent (per DATA_BYTES_DELIVERED: what acknowledging costs the peer in wake-ups). */
    DATA_ACKS_SENT,
    /** Streams opened, by either side. */
    STREAMS_OPENED,
    /** Streams refused because the session had its maximum or no receive memory left. */
    STREAMS_REFUSED,
    /** Streams closed abruptly with FAST_CLOSE, sent or received. */
    STREAMS_RESET,
    /** Streams reset because the peer's frames cost more heap than their window and the memory budget had no room. */
    STREAMS_RESET_MEMORY,
    /** FAST_CLOSE frames ignored because their MAC did not verify. */
    FAST_CLOSE_BAD_KEY,
    /** ADD_ADDR frames whose HMAC did not verify (dropped). */
    ADD_ADDR_BAD_HMAC,
    /** ADD_ADDR frames accepted. */
    ADD_ADDR_ACCEPTED,
    /** REMOVE_ADDR frames received. */
    REMOVE_ADDR_RECEIVED,
    /** MP_PRIO frames received. */
    MP_PRIO_RECEIVED,
    /** Bytes sent on overflow subflows while a primary was usable (the primary-first budget counts these). */
    OVERFLOW_BYTES_SENT
}
