package net.hybridproxy.admin;

import java.util.Locale;
import java.util.Optional;

/** What {@code POST /api/v1/uplinks/{name}/{action}} can ask of an uplink; the engine documents the effect. */
public enum UplinkAction {
    /** Keep the uplink's existing subflows, open no new ones on it. */
    DRAIN,
    /** Stop using the uplink: its subflows are closed and none are opened. */
    DISABLE,
    /** Undo drain, disable and backup: back to what the configuration says. */
    ENABLE,
    /** Use the uplink only when no other can carry traffic. */
    BACKUP;

    public String pathSegment() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static Optional<UplinkAction> fromPathSegment(String segment) {
        for (UplinkAction a : values()) {
            if (a.pathSegment().equals(segment)) {
                return Optional.of(a);
            }
        }
        return Optional.empty();
    }
}
