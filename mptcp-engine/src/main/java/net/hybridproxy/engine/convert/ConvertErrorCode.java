package net.hybridproxy.engine.convert;

import java.util.Optional;

/**
 * The error codes of the RFC 8803 Error TLV (RFC 8803 §6.2.8, Table 2; IANA "Convert Errors").
 *
 * <p>RFC 8803 §6.2.8 groups them in four classes: message validation and processing errors
 * (0-31), Client-side errors (32-63), Converter-side errors (64-95) and errors caused by the
 * destination Server (96-127).
 */
public enum ConvertErrorCode {
    UNSUPPORTED_VERSION(0, "Unsupported Version",
            "The version number in the fixed header of a received message is not supported."),
    MALFORMED_MESSAGE(1, "Malformed Message",
            "A received message cannot be successfully parsed and validated."),
    UNSUPPORTED_MESSAGE(2, "Unsupported Message",
            "A message type received from a Client is not supported."),
    MISSING_COOKIE(3, "Missing Cookie",
            "Cookies are required and none was sent; the Value carries a Cookie computed by the Converter."),
    NOT_AUTHORIZED(32, "Not Authorized",
            "The Converter refused the connection for lack of authorization (prohibited, failed, invalid Cookie)."),
    UNSUPPORTED_TCP_OPTION(33, "Unsupported TCP Option",
            "A TCP option the Client asked to advertise to the Server cannot be safely used."),
    RESOURCE_EXCEEDED(64, "Resource Exceeded",
            "The Converter does not have enough resources to perform the request."),
    NETWORK_FAILURE(65, "Network Failure",
            "The Converter is experiencing a network failure to proxy the request."),
    CONNECTION_RESET(96, "Connection Reset",
            "The final destination responded with an RST segment."),
    DESTINATION_UNREACHABLE(97, "Destination Unreachable",
            "An ICMP hard error was received for the destination; the Value echoes the ICMP Code.");

    private final int code;
    private final String rfcName;
    private final String meaning;

    ConvertErrorCode(int code, String rfcName, String meaning) {
        this.code = code;
        this.rfcName = rfcName;
        this.meaning = meaning;
    }

    /** The numeric value carried in the Error Code byte of the Error TLV. */
    public int code() {
        return code;
    }

    /** The name RFC 8803 gives this code. */
    String rfcName() {
        return rfcName;
    }

    /** A one-line explanation of when the code is used. */
    public String meaning() {
        return meaning;
    }

    /** The code with this numeric value, or empty for unassigned and private-use values. */
    public static Optional<ConvertErrorCode> fromCode(int code) {
        for (ConvertErrorCode c : values()) {
            if (c.code == code) {
                return Optional.of(c);
            }
        }
        return Optional.empty();
    }

    @Override
    public String toString() {
        return rfcName + " (" + code + ")";
    }
}
