package net.hybridproxy.engine.auth;

import java.security.MessageDigest;
import java.util.Base64;
import java.util.HexFormat;
import java.util.Objects;

/**
 * A CPE's shared secret and the id under which the concentrator knows it.
 *
 * <p>The id travels in clear inside every proof and names the key to verify it with; the secret
 * never leaves either end. The id is 1 to {@value #MAX_ID_LENGTH} visible ASCII characters
 * (0x21-0x7E): printable ASCII without the space, so that an id copied from a configuration
 * file or a log line cannot silently gain or lose a trailing blank. The secret is at least
 * {@value #MIN_SECRET_BYTES} bytes, the 128 bits below which an HMAC key is brute-forceable.
 *
 * @param id     the key id
 * @param secret the HMAC-SHA256 key (copied in and out; never printed)
 */
public record CpeKey(String id, byte[] secret) {

    public static final int MAX_ID_LENGTH = 64;

    private static final int MIN_SECRET_BYTES = 16;

    public CpeKey {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(secret, "secret");
        String problem = idProblem(id);
        if (problem != null) {
            throw new IllegalArgumentException("CPE key id " + problem);
        }
        if (secret.length < MIN_SECRET_BYTES) {
            throw new IllegalArgumentException("CPE key '" + id + "' has a " + secret.length
                    + "-byte secret; at least " + MIN_SECRET_BYTES + " bytes are required");
        }
        secret = secret.clone();
    }

    /** Why {@code id} is not a valid key id, or null if it is. */
    static String idProblem(String id) {
        if (id.isEmpty() || id.length() > MAX_ID_LENGTH) {
            return "must be 1.." + MAX_ID_LENGTH + " characters long, not " + id.length();
        }
        for (int i = 0; i < id.length(); i++) {
            char c = id.charAt(i);
            if (c < 0x21 || c > 0x7E) {
                return "may only contain visible ASCII characters (0x21-0x7E); character " + i
                        + " is U+" + String.format("%04X", (int) c);
            }
        }
        return null;
    }

    @Override
    public byte[] secret() {
        return secret.clone();
    }

    /**
     * Decodes a secret written as {@code hex:00112233...} or {@code base64:ABEiMw...}.
     *
     * @throws IllegalArgumentException naming what is wrong, without repeating the secret
     */
    public static byte[] parseSecret(String spec) {
        Objects.requireNonNull(spec, "spec");
        String s = spec.strip();
        if (s.startsWith("hex:")) {
            String hex = s.substring(4);
            if (hex.length() % 2 != 0) {
                throw new IllegalArgumentException("hex secret has an odd number of digits (" + hex.length() + ")");
            }
            try {
                return HexFormat.of().parseHex(hex);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("hex secret contains a character that is not a hex digit");
            }
        }
        if (s.startsWith("base64:")) {
            try {
                return Base64.getDecoder().decode(s.substring(7));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("base64 secret is not valid standard Base64");
            }
        }
        throw new IllegalArgumentException("secret must start with 'hex:' or 'base64:'");
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof CpeKey other && id.equals(other.id) && MessageDigest.isEqual(secret, other.secret);
    }

    @Override
    public int hashCode() {
        // The id alone: a hash of the secret would be one more copy of it to worry about.
        return id.hashCode();
    }

    @Override
    public String toString() {
        return "CpeKey[id=" + id + ", secret=(" + secret.length + " bytes, redacted)]";
    }

    /** Used by the verifier to hold the secret without exposing {@link #secret()} copies. */
    byte[] secretForMac() {
        return secret;
    }
}
