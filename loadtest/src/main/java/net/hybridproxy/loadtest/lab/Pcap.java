package net.hybridproxy.loadtest.lab;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * The IPv4 TCP segments of a classic pcap file (what {@code tcpdump -w} writes), with their TCP options, so lab
 * tests can check what went over the wire without tshark. Link types: raw IP (the lab's TUN uplinks), Ethernet
 * (veth), Linux cooked capture v1 ({@code -i any}).
 */
public final class Pcap {
    private static final int LINKTYPE_ETHERNET = 1;
    private static final int LINKTYPE_RAW = 101;
    private static final int LINKTYPE_RAW_ALT = 12;
    private static final int LINKTYPE_LINUX_SLL = 113;
    private static final int TCP_OPTION_MPTCP = 30;

    /** One TCP segment. {@code flags} are the TCP header's flag bits (SYN 0x02, ACK 0x10, ...). */
    public record Segment(double seconds, String source, int sourcePort, String destination, int destinationPort,
                          int flags, long sequence, byte[] options, byte[] payload) {
        public boolean syn() {
            return (flags & 0x02) != 0;
        }

        public boolean ack() {
            return (flags & 0x10) != 0;
        }

        /** The MPTCP option's subtype (RFC 8684 §3: 0 MP_CAPABLE, 1 MP_JOIN, 2 DSS, ...), if the segment has one. */
        public Optional<Integer> mptcpSubtype() {
            return mptcpOption().map(o -> (o[2] & 0xff) >> 4);
        }

        /** The whole MPTCP option (kind, length, body), if present. */
        public Optional<byte[]> mptcpOption() {
            int i = 0;
            while (i < options.length) {
                int kind = options[i] & 0xff;
                if (kind == 0) {
                    break;
                }
                if (kind == 1) {
                    i++;
                    continue;
                }
                if (i + 1 >= options.length) {
                    break;
                }
                int length = options[i + 1] & 0xff;
                if (length < 2 || i + length > options.length) {
                    break;
                }
                if (kind == TCP_OPTION_MPTCP && length >= 3) {
                    return Optional.of(Arrays.copyOfRange(options, i, i + length));
                }
                i += length;
            }
            return Optional.empty();
        }

        /** The connection's 4-tuple as seen from the sender, e.g. "198.18.10.1:40000>198.18.10.2:5100". */
        public String flow() {
            return source + ":" + sourcePort + ">" + destination + ":" + destinationPort;
        }

        /** The same flow from the other end. */
        public String reverseFlow() {
            return destination + ":" + destinationPort + ">" + source + ":" + sourcePort;
        }
    }

    private Pcap() {
    }

    public static List<Segment> read(Path file) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(file));
        if (b.remaining() < 24) {
            return List.of();
        }
        int magic = b.order(ByteOrder.LITTLE_ENDIAN).getInt(0);
        boolean nanos;
        if (magic == 0xa1b2c3d4 || magic == 0xa1b23c4d) {
            nanos = magic == 0xa1b23c4d;
        } else {
            b.order(ByteOrder.BIG_ENDIAN);
            int big = b.getInt(0);
            if (big != 0xa1b2c3d4 && big != 0xa1b23c4d) {
                throw new IOException(file + ": not a pcap file");
            }
            nanos = big == 0xa1b23c4d;
        }
        int linkType = b.getInt(20);
        b.position(24);
        List<Segment> segments = new ArrayList<>();
        while (b.remaining() >= 16) {
            long sec = Integer.toUnsignedLong(b.getInt());
            long frac = Integer.toUnsignedLong(b.getInt());
            int captured = b.getInt();
            b.getInt(); // original length
            if (captured < 0 || captured > b.remaining()) {
                break;
            }
            byte[] frame = new byte[captured];
            b.get(frame);
            double seconds = sec + frac / (nanos ? 1e9 : 1e6);
            int ip = switch (linkType) {
                case LINKTYPE_RAW, LINKTYPE_RAW_ALT -> 0;
                case LINKTYPE_ETHERNET -> 14;
                case LINKTYPE_LINUX_SLL -> 16;
                default -> throw new IOException(file + ": link type " + linkType + " not supported");
            };
            decode(frame, ip, seconds).ifPresent(segments::add);
        }
        return segments;
    }

    private static Optional<Segment> decode(byte[] f, int ip, double seconds) {
        if (f.length < ip + 20 || (f[ip] & 0xf0) != 0x40 || f[ip + 9] != 6) {
            return Optional.empty();
        }
        int ipHeader = (f[ip] & 0x0f) * 4;
        int totalLength = ((f[ip + 2] & 0xff) << 8) | (f[ip + 3] & 0xff);
        int tcp = ip + ipHeader;
        if (f.length < tcp + 20) {
            return Optional.empty();
        }
        int tcpHeader = ((f[tcp + 12] & 0xf0) >> 4) * 4;
        int end = Math.min(f.length, ip + totalLength);
        if (tcp + tcpHeader > f.length) {
            return Optional.empty();
        }
        String src = (f[ip + 12] & 0xff) + "." + (f[ip + 13] & 0xff) + "." + (f[ip + 14] & 0xff) + "." + (f[ip + 15] & 0xff);
        String dst = (f[ip + 16] & 0xff) + "." + (f[ip + 17] & 0xff) + "." + (f[ip + 18] & 0xff) + "." + (f[ip + 19] & 0xff);
        int sport = ((f[tcp] & 0xff) << 8) | (f[tcp + 1] & 0xff);
        int dport = ((f[tcp + 2] & 0xff) << 8) | (f[tcp + 3] & 0xff);
        long seq = ByteBuffer.wrap(f, tcp + 4, 4).getInt() & 0xffffffffL;
        int flags = f[tcp + 13] & 0xff;
        byte[] options = Arrays.copyOfRange(f, tcp + 20, tcp + tcpHeader);
        byte[] payload = Arrays.copyOfRange(f, tcp + tcpHeader, Math.max(tcp + tcpHeader, end));
        return Optional.of(new Segment(seconds, src, sport, dst, dport, flags, seq, options, payload));
    }
}
