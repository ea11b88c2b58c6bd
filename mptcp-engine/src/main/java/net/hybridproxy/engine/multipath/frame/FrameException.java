package net.hybridproxy.engine.multipath.frame;

import java.util.Objects;

/**
 * Bytes received on a subflow are not a valid frame, or a valid frame arrived where the protocol
 * does not allow it. The subflow that carried it is closed with {@link #reason()}; nothing else
 * is affected.
 */
public final class FrameException extends Exception {

    private final ResetReason reason;

    public FrameException(ResetReason reason, String message) {
        super(message);
        this.reason = Objects.requireNonNull(reason, "reason");
    }

    public FrameException(String message) {
        this(ResetReason.PROTOCOL_ERROR, message);
    }

    /** The reset reason to send when closing the subflow that carried the bad input. */
    public ResetReason reason() {
        return reason;
    }
}
