package net.hybridproxy.engine.convert;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;

/**
 * What each role accepts from the other, beyond what {@link ConvertDecoder} can check alone.
 *
 * <p>{@link #checkClientRequest} is the Transport Converter's view of a Client's first message;
 * {@link #checkConverterReply} is the Client's view of the Converter's answer. Every violation is
 * a {@link ConvertProtocolException} carrying the RFC 8803 error code the Converter sends back (a
 * Client resets the connection on any of them).
 */
public final class ConvertRules {

    /** TCP option Kind of the TCP Authentication Option (RFC 5925). */
    private static final int TCP_AO_KIND = 29;

    /**
     * Kinds a Converter ignores in a Connect TLV. RFC 8803 §7.1: "A Transport Converter MUST
     * ignore options with Kind=0, 1, or 2 if they appear in a Connect TLV." §7.2: "a Transport
     * Converter MUST ignore option Kind=3 if it appears in a Connect TLV." §7.3: "a Transport
     * Converter MUST ignore option Kind=5 if it appears in a Connect TLV."
     */
    private static final Set<Integer> IGNORED_CONNECT_OPTION_KINDS = Set.of(0, 1, 2, 3, 5);

    private ConvertRules() {
    }

    /** A Client request the Converter may act on. */
    public sealed interface ClientRequest {

        /** The Cookie TLV, to be checked by the Converter's authoriser. */
        Optional<CookieTlv> cookie();

        /**
         * Connect to a Server.
         *
         * @param connect       the Connect TLV
         * @param cookie        the Cookie TLV, if sent
         * @param infoRequested whether an Info TLV came too, asking for a Supported TCP
         *                      Extensions TLV in the reply
         */
        record Connect(ConnectTlv connect, Optional<CookieTlv> cookie, boolean infoRequested)
                implements ClientRequest {
            public Connect {
                Objects.requireNonNull(connect, "connect");
                Objects.requireNonNull(cookie, "cookie");
            }
        }

        /** Only ask for the Converter's capabilities (RFC 8803 §6.2.3). */
        record Info(Optional<CookieTlv> cookie) implements ClientRequest {
            public Info {
                Objects.requireNonNull(cookie, "cookie");
            }
        }
    }

    /** A Converter reply the Client may act on. */
    public sealed interface ConverterReply {

        /**
         * The Converter accepted; the bytes after the message are the Server's.
         *
         * @param extendedTcpHeader      the Server's SYN+ACK options, for an Extended Connect
         * @param supportedTcpExtensions the Converter's capabilities, for an Info TLV
         */
        record Accepted(Optional<ExtendedTcpHeaderTlv> extendedTcpHeader,
                        Optional<SupportedTcpExtensionsTlv> supportedTcpExtensions) implements ConverterReply {
            public Accepted {
                Objects.requireNonNull(extendedTcpHeader, "extendedTcpHeader");
                Objects.requireNonNull(supportedTcpExtensions, "supportedTcpExtensions");
            }
        }

        /**
         * The Converter refused. RFC 8803 §6.2.8: "Upon reception of an Error TLV, a Client MUST
         * reset the associated connection."
         */
        record Refused(ErrorTlv error) implements ConverterReply {
            public Refused {
                Objects.requireNonNull(error, "error");
            }
        }
    }

    /**
     * Checks a Client's message as a Transport Converter.
     *
     * @param request                 the decoded message
     * @param supportedTcpOptionKinds the TCP option Kinds this Converter can request from a
     *                                Server on a Client's behalf (TCP-AO is refused regardless)
     * @return what the Client asks for
     * @throws ConvertProtocolException naming the error to return, or silent when the RFC asks
     *                                  for the request to be ignored
     */
    public static ClientRequest checkClientRequest(ConvertMessage request, Set<Integer> supportedTcpOptionKinds)
            throws ConvertProtocolException {
        Objects.requireNonNull(supportedTcpOptionKinds, "supportedTcpOptionKinds");
        // RFC 8803 §6: "Absent any policy, the Transport Converter SHOULD silently ignore SYNs with
        // no Convert TLVs."
        if (request.tlvs().isEmpty()) {
            throw ConvertProtocolException.silent(ConvertErrorCode.MALFORMED_MESSAGE,
                    "Client message carries no TLV");
        }
        for (ConvertTlv tlv : request.tlvs()) {
            String converterOnly = switch (tlv) {
                // RFC 8803 §6.2.8: "An Error TLV can be included in the SYN+ACK or an ACK."
                case ErrorTlv e -> "an Error TLV";
                // RFC 8803 §6.2.6: "The Extended TCP Header TLV (Figure 20) is used by the Transport
                // Converter to return to the Client the TCP options that were returned by the
                // Server in the SYN+ACK packet."
                case ExtendedTcpHeaderTlv e -> "an Extended TCP Header TLV";
                // RFC 8803 §6.2.4: "The Supported TCP Extensions TLV (Figure 16) is used by a
                // Transport Converter to announce the TCP options for which it provides a
                // conversion service."
                case SupportedTcpExtensionsTlv s -> "a Supported TCP Extensions TLV";
                case InfoTlv i -> null;
                case ConnectTlv c -> null;
                case CookieTlv c -> null;
            };
            // RFC 8803 §6.2.8: "Unsupported Message (2): This error code is sent to indicate that a
            // message type received from a Client is not supported."
            if (converterOnly != null) {
                throw echoing(ConvertErrorCode.UNSUPPORTED_MESSAGE,
                        "Client sent " + converterOnly + ", which only a Converter sends", request);
            }
        }
        Optional<CookieTlv> cookie = request.cookieTlv();
        boolean info = request.infoTlv().isPresent();
        Optional<ConnectTlv> connect = request.connectTlv();
        if (connect.isEmpty()) {
            if (info) {
                return new ClientRequest.Info(cookie);
            }
            throw echoing(ConvertErrorCode.MALFORMED_MESSAGE,
                    "Client message has neither a Connect TLV nor an Info TLV", request);
        }
        ConnectTlv tlv = connect.get();
        checkRemotePeerAddress(tlv.address(), request);
        checkRequestedOptions(tlv, supportedTcpOptionKinds);
        return new ClientRequest.Connect(tlv, cookie, info);
    }

    /**
     * RFC 8803 §6.2.5: "the Remote Peer IP Address field MUST NOT include multicast, broadcast, or
     * host loopback addresses [RFC6890]. If a Converter receives a Connect TLV with such invalid
     * addresses, it MUST reply with a Malformed Message Error TLV and close the associated TCP
     * connection." Only the limited broadcast address is recognisable without knowing subnets;
     * the destination policy refuses the rest of what a Converter must not reach.
     */
    private static void checkRemotePeerAddress(InetAddress address, ConvertMessage request)
            throws ConvertProtocolException {
        String kind = null;
        if (address.isMulticastAddress()) {
            kind = "multicast";
        } else if (address.isLoopbackAddress()) {
            kind = "loopback";
        } else if (address instanceof Inet4Address && isLimitedBroadcast(address)) {
            kind = "broadcast";
        }
        if (kind != null) {
            throw echoing(ConvertErrorCode.MALFORMED_MESSAGE,
                    "Connect TLV names the " + kind + " address " + address.getHostAddress(), request);
        }
    }

    /**
     * RFC 8803 §6.2.8 asks Malformed and Unsupported Message errors to echo the received message.
     * The decoded message is re-encoded for that: it differs from the bytes received only where
     * the decoder dropped NOPs or surplus zero padding.
     */
    private static ConvertProtocolException echoing(ConvertErrorCode code, String reason, ConvertMessage request) {
        return ConvertProtocolException.withErrorValue(code, reason, ErrorTlv.echoing(code, request.encode()).value());
    }

    private static boolean isLimitedBroadcast(InetAddress address) {
        for (byte b : address.getAddress()) {
            if (b != (byte) 0xFF) {
                return false;
            }
        }
        return true;
    }

    /**
     * RFC 8803 §6.2.5: "Upon reception of an Extended Connect TLV, a Transport Converter first
     * checks whether or not it supports the TCP Options listed in the TCP Options field. If not,
     * it returns an error TLV set to 'Unsupported TCP Option'". RFC 8803 §7.7: "If a Transport
     * Converter receives a Connect TLV that contains the TCP-AO, it MUST reject the establishment
     * of the connection with error code set to 'Unsupported TCP Option'". RFC 8803 §6.2.8: "The
     * Value field is set to the type of the unsupported TCP option. If several unsupported TCP
     * options were specified in the Connect TLV, then the list of unsupported TCP options is
     * returned."
     */
    private static void checkRequestedOptions(ConnectTlv connect, Set<Integer> supported)
            throws ConvertProtocolException {
        List<Integer> unsupported = new ArrayList<>();
        for (int kind : connect.tcpOptionKinds()) {
            if (IGNORED_CONNECT_OPTION_KINDS.contains(kind)) {
                continue;
            }
            if ((kind == TCP_AO_KIND || !supported.contains(kind)) && !unsupported.contains(kind)) {
                unsupported.add(kind);
            }
        }
        if (!unsupported.isEmpty()) {
            byte[] value = new byte[unsupported.size()];
            for (int i = 0; i < value.length; i++) {
                value[i] = (byte) (int) unsupported.get(i);
            }
            throw ConvertProtocolException.withErrorValue(ConvertErrorCode.UNSUPPORTED_TCP_OPTION,
                    "Connect TLV requests unsupported TCP option Kind(s) " + unsupported, value);
        }
    }

    /**
     * Checks a Converter's reply as the Client that sent {@code request}.
     *
     * @return the Converter's answer: accepted, or refused with its Error TLV
     * @throws ConvertProtocolException if the reply breaks the protocol; the Client resets
     */
    static ConverterReply checkConverterReply(ConvertMessage reply, ConvertMessage request)
            throws ConvertProtocolException {
        Optional<ErrorTlv> error = reply.errorTlv();
        if (error.isPresent()) {
            return new ConverterReply.Refused(error.get());
        }
        for (ConvertTlv tlv : reply.tlvs()) {
            String clientOnly = switch (tlv) {
                // RFC 8803 §6.2.5: "The Connect TLV (Figure 17) is used to request the
                // establishment of a connection via a Transport Converter." A Converter sends one
                // only in the SYN of an incoming connection, never in a reply.
                case ConnectTlv c -> "a Connect TLV";
                // RFC 8803 §6.2.3: "The Info TLV (Figure 15) is an optional TLV that can be sent by
                // a Client to request the TCP extensions that are supported by a Transport
                // Converter."
                case InfoTlv i -> "an Info TLV";
                // RFC 8803 §6.2.7: "A Transport Converter that has been configured to use the
                // optional Cookie TLV MUST verify the presence of this TLV in the payload of the
                // received SYN." Cookies travel from Client to Converter; a Converter hands one
                // out only inside a Missing Cookie Error TLV.
                case CookieTlv c -> "a Cookie TLV";
                case ExtendedTcpHeaderTlv e -> null;
                case SupportedTcpExtensionsTlv s -> null;
                case ErrorTlv e -> null;
            };
            if (clientOnly != null) {
                throw new ConvertProtocolException(ConvertErrorCode.UNSUPPORTED_MESSAGE,
                        "Converter replied with " + clientOnly + ", which only a Client sends");
            }
        }
        // RFC 8803 §6.2.6: "A Transport Converter MUST return this TLV if the Client sent an
        // Extended Connect TLV and the connection was accepted by the Server."
        boolean sentExtended = request.connectTlv().map(ConnectTlv::isExtended).orElse(false);
        if (sentExtended && reply.extendedTcpHeaderTlv().isEmpty()) {
            throw new ConvertProtocolException(ConvertErrorCode.MALFORMED_MESSAGE,
                    "Converter accepted an Extended Connect TLV without an Extended TCP Header TLV");
        }
        return new ConverterReply.Accepted(reply.extendedTcpHeaderTlv(), reply.supportedTcpExtensionsTlv());
    }
}
