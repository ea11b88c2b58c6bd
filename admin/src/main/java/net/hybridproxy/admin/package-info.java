/**
 * The operations side of hybridproxy, independent of the data plane: an HTTP server on its own small event loop
 * (never the data plane's), serving Prometheus metrics, liveness and readiness, a JSON status API, uplink actions,
 * configuration reload and a self-contained status page.
 *
 * <p>The data plane plugs in through {@link net.hybridproxy.admin.AdminBackend}: a {@link
 * net.hybridproxy.admin.StatusSource}, a {@link net.hybridproxy.admin.ReadinessCheck}, an {@link
 * net.hybridproxy.admin.UplinkControl} and a {@link net.hybridproxy.admin.ConfigReload}, plus the meter registry
 * it records into. Dependencies point one way: the data plane depends on this package, never the reverse.
 */
package net.hybridproxy.admin;
