package net.hybridproxy.admin;

import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;

import java.util.Objects;

/**
 * Everything the admin server serves, provided by the data plane.
 *
 * @param registry   rendered at {@code /metrics}
 * @param status     {@code /api/v1/status} and the status page
 * @param readiness  {@code /health/ready}
 * @param uplinks    {@code POST /api/v1/uplinks/{name}/{action}}
 * @param reload     {@code POST /api/v1/reload}
 */
public record AdminBackend(PrometheusMeterRegistry registry, StatusSource status, ReadinessCheck readiness,
                           UplinkControl uplinks, ConfigReload reload) {
    public AdminBackend {
        Objects.requireNonNull(registry, "registry");
        Objects.requireNonNull(status, "status");
        Objects.requireNonNull(readiness, "readiness");
        Objects.requireNonNull(uplinks, "uplinks");
        Objects.requireNonNull(reload, "reload");
    }
}
