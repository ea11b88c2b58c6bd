package net.hybridproxy.engine.multipath.crypto;

import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Objects;
import net.hybridproxy.engine.auth.CpeKey;

/**
 * The secret every MAC after the capable handshake is keyed with (protocol version 2):
 * {@code HMAC-SHA256(PSK, "hybridproxy session" || 0x00 || version || Key-A || Key-B)}.
 *
 * <p>Why not RFC 8684's keys: RFC 8684 keys the MP_JOIN, ADD_ADDR and MP_FASTCLOSE checks with Key-A and
 * Key-B, which cross the network in clear in the handshake (RFC 8684 §5 accepts this: "the keys are sent in the
 * clear"). An observer of one handshake could then join the session, open streams over a subflow of its own, or
 * fast-close it. Both ends here share a pre-shared key that never crosses the network, so the MACs are keyed
 * with a secret derived from it and from both fresh keys: an observer who saw the keys learns nothing it can
 * sign with, and the secret differs per session.
 *
 * <p>Every MAC puts a label and the sender's role (A, the cpe; B, the concentrator) in front of its fields, so no
 * MAC of one kind or direction verifies as another (no reflection).
 */
public final class SessionSecret {

    /** The label of the derivation, without the zero byte that ends it on the wire. */
    public static final String LABEL = "hybridproxy session";

    /** Which side computed a MAC: RFC 8684's Host A (the cpe, Key-A) or Host B (the concentrator, Key-B). */
    public enum Sender {
        A((byte) 'A'), B((byte) 'B');

        private final byte code;

        Sender(byte code) {
            this.code = code;
        }
    }

    private static final byte[] JOIN = "hybridproxy join".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] FAST_CLOSE = "hybridproxy fast close".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] ADD_ADDR = "hybridproxy add addr".getBytes(StandardCharsets.US_ASCII);

    private final byte[] secret;

    private SessionSecret(byte[] secret) {
        this.secret = secret;
    }

    /** Derives the secret of the session keyed {@code cpeKey} (Key-A) and {@code concentratorKey} (Key-B). */
    public static SessionSecret derive(CpeKey psk, int version, long cpeKey, long concentratorKey) {
        return derive(psk.secret(), version, cpeKey, concentratorKey);
    }

    static SessionSecret derive(byte[] psk, int version, long cpeKey, long concentratorKey) {
        return new SessionSecret(CapableProof.proof(psk, LABEL, version, cpeKey, concentratorKey));
    }

    /**
     * The full join MAC of {@code sender}: {@code HMAC(secret, "hybridproxy join" 0 || sender || R-own || R-peer)};
     * like RFC 8684 §3.2, each host puts its own nonce first.
     */
    public byte[] joinHmac(Sender sender, int ownNonce, int peerNonce) {
        ByteBuffer message = labelled(JOIN, sender, 8);
        message.putInt(ownNonce).putInt(peerNonce);
        return MptcpCrypto.hmacSha256(secret, message.array());
    }

    /** The concentrator's JOIN_SYNACK MAC: RFC 8684 §3.2's "truncated (leftmost 64 bits)". */
    public long joinSynAckHmac(int concentratorNonce, int cpeNonce) {
        return ByteBuffer.wrap(joinHmac(Sender.B, concentratorNonce, cpeNonce)).getLong(0);
    }

    /** The cpe's JOIN_ACK MAC: RFC 8684 §3.2's leftmost 160 bits. */
    public byte[] joinAckHmac(int cpeNonce, int concentratorNonce) {
        byte[] truncated = new byte[20];
        System.arraycopy(joinHmac(Sender.A, cpeNonce, concentratorNonce), 0, truncated, 0, 20);
        return truncated;
    }

    /**
     * The FAST_CLOSE authenticator (leftmost 64 bits): {@code HMAC(secret, "hybridproxy fast close" 0 || sender ||
     * stream id (4) || reason (1))}. It replaces RFC 8684 §3.5's "key of the peer", which any observer of the
     * handshake knows.
     */
    public long fastCloseMac(Sender sender, long streamId, int reasonCode) {
        ByteBuffer message = labelled(FAST_CLOSE, sender, 5);
        message.putInt((int) streamId).put((byte) reasonCode);
        return ByteBuffer.wrap(MptcpCrypto.hmacSha256(secret, message.array())).getLong(0);
    }

    /**
     * The ADD_ADDR MAC (rightmost 64 bits, as RFC 8684 §3.4.1's truncation) over the same fields as RFC 8684's:
     * Address ID, address and port (two zero bytes when no port).
     */
    public long addAddrHmac(Sender sender, int addressId, InetAddress address, int port) {
        byte[] raw = Objects.requireNonNull(address, "address").getAddress();
        ByteBuffer message = labelled(ADD_ADDR, sender, 1 + raw.length + 2);
        message.put((byte) addressId).put(raw).putShort((short) port);
        byte[] mac = MptcpCrypto.hmacSha256(secret, message.array());
        return ByteBuffer.wrap(mac).getLong(mac.length - 8);
    }

    private static ByteBuffer labelled(byte[] label, Sender sender, int fields) {
        ByteBuffer message = ByteBuffer.allocate(label.length + 2 + fields);
        message.put(label).put((byte) 0).put(sender.code);
        return message;
    }

    @Override
    public String toString() {
        return "SessionSecret[hidden]";
    }
}
