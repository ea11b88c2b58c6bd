package net.hybridproxy.admin;

import java.util.List;

/**
 * The answer to {@code GET /health/ready}: ready when every check passed. Each check says in words what it
 * looked at, so a failing probe explains itself in {@code kubectl describe} or a load balancer's log.
 */
public record Readiness(List<Condition> checks) {
    public Readiness {
        checks = List.copyOf(checks);
    }

    public boolean ready() {
        return checks.stream().allMatch(Condition::ok);
    }

    public record Condition(String name, boolean ok, String detail) {
    }
}
