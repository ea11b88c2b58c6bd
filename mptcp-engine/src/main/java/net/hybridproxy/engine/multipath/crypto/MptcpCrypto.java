package net.hybridproxy.engine.multipath.crypto;

import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.util.random.RandomGenerator;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * RFC 8684's key-derived values: tokens, initial data sequence numbers, the MP_JOIN and ADD_ADDR
 * HMACs. The counterpart of Linux {@code net/mptcp/crypto.c}.
 *
 * <p>Keys are 64-bit numbers; wherever one is hashed it is written big-endian ("in network byte
 * order"), and two keys are concatenated as 16 bytes.
 */
public final class MptcpCrypto {

    private MptcpCrypto() {
    }

    /**
     * The token that names a session to the holder of the other key.
     *
     * <p>RFC 8684 §3.2 (paraphrased): The token is ... a cryptographic hash of the receiver's key ... the token
     * is the most significant 32 bits of the SHA-256 hash of the key.
     */
    public static int token(long key) {
        return ByteBuffer.wrap(sha256(key)).getInt(0);
    }

    /**
     * RFC 8684 §3.1 (paraphrased): The Initial Data Sequence Number (IDSN) ... is the least significant 64 bits
     * of the SHA-256 hash of the key. Version 1 starts each stream's data sequence space at 0
     * (docs/userspace-protocol.md explains why); the IDSN is kept for diagnostics and vectors.
     */
    static long idsn(long key) {
        return ByteBuffer.wrap(sha256(key)).getLong(24);
    }

    /**
     * The full MP_JOIN HMAC of a host whose key is {@code ownKey}.
     *
     * <p>RFC 8684 §3.2: "For the SYN/ACK ... HMAC(Key=(Key-B+Key-A), Msg=(R-B+R-A)) ... For the
     * third ACK ... HMAC(Key=(Key-A+Key-B), Msg=(R-A+R-B))": each host puts its own key and its own
     * nonce first.
     */
    public static byte[] joinHmac(long ownKey, long peerKey, int ownNonce, int peerNonce) {
        byte[] message = ByteBuffer.allocate(8).putInt(ownNonce).putInt(peerNonce).array();
        return hmacSha256(twoKeys(ownKey, peerKey), message);
    }

    /** RFC 8684 §3.2: the SYN/ACK carries "a truncated (leftmost 64 bits)" HMAC. */
    static long joinHmacTruncated(long ownKey, long peerKey, int ownNonce, int peerNonce) {
        return ByteBuffer.wrap(joinHmac(ownKey, peerKey, ownNonce, peerNonce)).getLong(0);
    }

    /** RFC 8684 §3.2: the third ACK carries the leftmost 160 bits of the HMAC. */
    public static byte[] joinHmac160(long ownKey, long peerKey, int ownNonce, int peerNonce) {
        byte[] full = joinHmac(ownKey, peerKey, ownNonce, peerNonce);
        byte[] truncated = new byte[20];
        System.arraycopy(full, 0, truncated, 0, 20);
        return truncated;
    }

    /**
     * The ADD_ADDR HMAC sent by the host whose key is {@code senderKey}.
     *
     * <p>RFC 8684 §3.4.1 (paraphrased): the Truncated HMAC ... is the rightmost 64 bits of an HMAC ... the key
     * for the HMAC algorithm, in the case of the message transmitted by Host A, will be Key-A
     * followed by Key-B ... the 'Message' for the HMAC algorithm is the Address ID, IP Address,
     * and Port ... If the port is not present ... the HMAC message will nevertheless include two
     * octets of value zero.
     */
    public static long addAddrHmac(long senderKey, long receiverKey, int addressId, InetAddress address, int port) {
        byte[] raw = address.getAddress();
        ByteBuffer message = ByteBuffer.allocate(1 + raw.length + 2);
        message.put((byte) addressId).put(raw).putShort((short) port);
        byte[] mac = hmacSha256(twoKeys(senderKey, receiverKey), message.array());
        return ByteBuffer.wrap(mac).getLong(mac.length - 8);
    }

    /** A fresh session key whose token is not {@code 0} (a value this implementation reserves). */
    public static long newKey(RandomGenerator random) {
        while (true) {
            long key = random.nextLong();
            if (token(key) != 0) {
                return key;
            }
        }
    }

    /** HMAC-SHA256 (RFC 2104 with SHA-256). */
    public static byte[] hmacSha256(byte[] key, byte[] message) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(key, "HmacSHA256"));
            return mac.doFinal(message);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is a required JDK algorithm", e);
        }
    }

    /** Compares MACs in time that does not depend on where they differ. */
    public static boolean macEquals(byte[] a, byte[] b) {
        return MessageDigest.isEqual(a, b);
    }

    private static byte[] sha256(long key) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(ByteBuffer.allocate(8).putLong(key).array());
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("SHA-256 is a required JDK algorithm", e);
        }
    }

    private static byte[] twoKeys(long first, long second) {
        return ByteBuffer.allocate(16).putLong(first).putLong(second).array();
    }
}
