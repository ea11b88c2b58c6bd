package net.hybridproxy.admin;

/**
 * Decides whether the appliance should receive traffic. Runs on the admin work thread and may block briefly
 * (e.g. a bounded TCP probe), never on an event loop.
 */
@FunctionalInterface
public interface ReadinessCheck {
    Readiness check();
}
