package net.hybridproxy.admin;

/**
 * Carries out uplink actions. Runs on the admin work thread (actions talk to the kernel and may block briefly),
 * one at a time, never on an event loop.
 */
@FunctionalInterface
public interface UplinkControl {
    /**
     * Applies {@code action} to the uplink named {@code uplink} and returns what was done, in words.
     *
     * @param reason the operator's note from the request body, or empty; for the log
     * @throws AdminException 404 for an unknown uplink, 409 when the configuration does not allow the action
     *                        (e.g. endpoints are managed by another daemon), 500 when the host refused it
     */
    String apply(String uplink, UplinkAction action, String reason) throws AdminException;
}
