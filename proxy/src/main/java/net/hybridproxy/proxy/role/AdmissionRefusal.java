package net.hybridproxy.proxy.role;

import java.util.Locale;

/** Why the concentrator's admission control refused or closed a connection (metric label {@code reason}). */
public enum AdmissionRefusal {
    /** Nothing arrived within concentrator.first-byte-timeout. */
    FIRST_BYTE_TIMEOUT,
    /** The Convert header did not complete within concentrator.convert-header-timeout of its first byte. */
    HEADER_TIMEOUT,
    /** The source already held concentrator.max-pending-per-source connections without a complete header. */
    PENDING_PER_SOURCE,
    /** The source already held concentrator.max-connections-per-source connections. */
    CONNECTIONS_PER_SOURCE,
    /** The cpe key already held concentrator.max-connections-per-key relayed connections. */
    CONNECTIONS_PER_KEY;

    /** The metric label and log category, e.g. "pending_per_source". */
    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }
}
