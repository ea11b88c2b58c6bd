package net.hybridproxy.engine.convert;

import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * A Convert message, or a Convert exchange, violates RFC 8803.
 *
 * <p>Carries the RFC 8803 error code that names the violation, a human-readable reason (for
 * logs, never sent on the wire), and what the RFC asks a Transport Converter to send back:
 * {@link #errorReply()} is the Error TLV message to write before closing, or empty when the RFC
 * asks for the connection to be reset or the request silently ignored instead. A Client that
 * catches this exception resets the connection whatever the code (RFC 8803 §6.2.1, §6.2.8).
 */
public final class ConvertProtocolException extends Exception {

    private final ConvertErrorCode code;
    private final String reason;
    private final boolean silent;
    private final byte[] errorValue;

    private ConvertProtocolException(ConvertErrorCode code, String reason, boolean silent,
                                     byte[] errorValue, Throwable cause) {
        super(code + ": " + reason, cause);
        this.code = Objects.requireNonNull(code, "code");
        this.reason = Objects.requireNonNull(reason, "reason");
        this.silent = silent;
        this.errorValue = errorValue == null ? null : errorValue.clone();
    }

    /** A violation answered with an Error TLV carrying {@code code} and the default Value. */
    public ConvertProtocolException(ConvertErrorCode code, String reason) {
        this(code, reason, false, null, null);
    }

    /** A violation answered with an Error TLV carrying {@code code} and the given Value. */
    public static ConvertProtocolException withErrorValue(ConvertErrorCode code, String reason, byte[] value) {
        return new ConvertProtocolException(code, reason, false, Objects.requireNonNull(value, "value"), null);
    }

    /**
     * A violation the RFC answers by resetting the connection or ignoring the request, without
     * an Error TLV; {@code code} only classifies it for logs and metrics.
     */
    public static ConvertProtocolException silent(ConvertErrorCode code, String reason) {
        return new ConvertProtocolException(code, reason, true, null, null);
    }

    static ConvertProtocolException internal(RuntimeException cause) {
        return new ConvertProtocolException(ConvertErrorCode.MALFORMED_MESSAGE,
                "internal decoder failure: " + cause, false, null, cause);
    }

    /**
     * The same violation, answered with an Error TLV that echoes the offending message.
     * RFC 8803 §6.2.8 (Malformed Message, Unsupported Message): "To ease troubleshooting, the
     * Value field MUST echo the received message using the format depicted in Figure 23."
     */
    ConvertProtocolException echoing(byte[] receivedMessage) {
        if (silent || errorValue != null
                || (code != ConvertErrorCode.MALFORMED_MESSAGE && code != ConvertErrorCode.UNSUPPORTED_MESSAGE)) {
            return this;
        }
        ConvertProtocolException e = new ConvertProtocolException(code, reason, false,
                ErrorTlv.echoing(code, receivedMessage).value(), getCause());
        e.setStackTrace(getStackTrace());
        return e;
    }

    /** The RFC 8803 error code naming the violation. */
    public ConvertErrorCode code() {
        return code;
    }

    /** Why the input was refused, for humans. */
    public String reason() {
        return reason;
    }

    /** True when the RFC asks for a reset or silence rather than an Error TLV. */
    public boolean isSilent() {
        return silent;
    }

    /**
     * The message a Transport Converter sends before closing the connection, or empty when the
     * RFC asks for no Error TLV (see {@link #isSilent()}).
     */
    Optional<ConvertMessage> errorReply() {
        if (silent) {
            return Optional.empty();
        }
        ErrorTlv tlv = errorValue == null ? ErrorTlv.of(code) : new ErrorTlv(code.code(), errorValue);
        return Optional.of(new ConvertMessage(List.of(tlv)));
    }
}
