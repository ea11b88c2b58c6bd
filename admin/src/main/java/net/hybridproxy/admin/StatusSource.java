package net.hybridproxy.admin;

/**
 * The data plane's current picture, for {@code GET /api/v1/status} and the status page. Called on the admin
 * server's work thread, never on an event loop; it should return what the latest sample holds rather than
 * sample on demand, so a burst of status requests costs no more than copying that.
 */
@FunctionalInterface
public interface StatusSource {
    ApplianceStatus status();
}
