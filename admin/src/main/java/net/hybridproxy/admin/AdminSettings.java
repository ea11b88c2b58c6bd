package net.hybridproxy.admin;

import java.net.InetSocketAddress;
import java.util.List;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * Where the admin server listens and the bearer token it requires.
 *
 * @param bind   listening address; port 0 picks a free port (tests)
 * @param token  required as {@code Authorization: Bearer TOKEN} on everything but the health probes and the
 *               static page; empty means no token, which is allowed only on a loopback address
 * @param allowedHosts host names (besides IP literals and {@code localhost}) a request's {@code Host} header may
 *               name; anything else is refused, which is what defeats DNS rebinding
 */
public record AdminSettings(InetSocketAddress bind, String token, List<String> allowedHosts) {
    private static final Pattern HOST_NAME = Pattern.compile(
            "(?i)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*");

    /** Shorter tokens are refused: an admin API that can disable uplinks deserves more than a password. */
    private static final int MIN_TOKEN_LENGTH = 16;

    public AdminSettings {
        Objects.requireNonNull(bind, "bind");
        Objects.requireNonNull(token, "token");
        allowedHosts = List.copyOf(allowedHosts);
        String problem = problem(bind, token);
        if (problem != null) {
            throw new IllegalArgumentException(problem);
        }
    }

    /** Settings that accept only IP literals and {@code localhost} as the {@code Host}. */
    public AdminSettings(InetSocketAddress bind, String token) {
        this(bind, token, List.of());
    }

    /** Whether {@code text} is a DNS host name (no port, no address literal syntax). */
    public static boolean isHostName(String text) {
        return text.length() <= 253 && HOST_NAME.matcher(text).matches();
    }

    /** Null when the pair is acceptable, else why not, in one line (the config loader reports it with the key). */
    public static String problem(InetSocketAddress bind, String token) {
        if (!token.isEmpty() && token.length() < MIN_TOKEN_LENGTH) {
            return "the admin token must be at least " + MIN_TOKEN_LENGTH + " characters";
        }
        if (!token.isEmpty() && !token.chars().allMatch(c -> c > 0x20 && c < 0x7f)) {
            return "the admin token must be printable ASCII without spaces (it travels in an HTTP header)";
        }
        if (token.isEmpty() && (bind.getAddress() == null || !bind.getAddress().isLoopbackAddress())) {
            return "the admin server would listen on " + bind.getHostString()
                    + ", which is not a loopback address, without a token: set a token or bind to 127.0.0.1";
        }
        return null;
    }
}
