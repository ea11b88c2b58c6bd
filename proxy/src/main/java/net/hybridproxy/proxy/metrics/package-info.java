/**
 * Metrics: what the data plane records and how it reaches Prometheus. Binders list every meter they export in
 * their javadoc ({@link net.hybridproxy.proxy.metrics.ProcessMetrics}, {@link
 * net.hybridproxy.proxy.metrics.UplinkMetrics}); the kernel engine's per-subflow figures come from {@link
 * net.hybridproxy.proxy.metrics.KernelSubflowSampler} (MPTCP_FULL_INFO) and {@link
 * net.hybridproxy.proxy.metrics.SubflowLifecycle} (mptcp_pm events). Labels are bounded: uplink names from the
 * configuration plus "other", error codes, directions and reasons from fixed vocabularies; never an address.
 */
package net.hybridproxy.proxy.metrics;
