package net.hybridproxy.proxy.role;

import net.hybridproxy.engine.admission.Quota;
import net.hybridproxy.proxy.config.AppConfig;
import net.hybridproxy.proxy.logging.RefusalLog;
import net.hybridproxy.proxy.ops.FileDescriptorBudget;

import java.net.InetAddress;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The concentrator's fair-share state, shared by every connection of the role and kept across reloads: per-source
 * and per-key quotas, the deadlines before a Convert header is complete, and the refusal log. Each quota is counted
 * where the identity is known: the source at accept, the key once its proof verified.
 *
 * @param pendingPerSource     connections whose Convert header is not complete, per source address (or per session
 *                             key for the streams of a userspace session)
 * @param connectionsPerSource connections per source address, whatever their state
 * @param connectionsPerKey    relayed connections per authenticated cpe key
 */
record ConcentratorAdmission(AppConfig.Admission settings, Quota<Object> pendingPerSource,
                             Quota<InetAddress> connectionsPerSource, Quota<String> connectionsPerKey,
                             RefusalLog refusals, AtomicInteger lingering, int maxLingering) {

    /**
     * Refused connections allowed to linger (to let their Error TLV arrive) at once; beyond it they are closed at
     * once. Refused connections hold no connection slot, so this bounds their file descriptors instead; a low
     * RLIMIT_NOFILE lowers it further ({@link FileDescriptorBudget#lingeringLimit}).
     */
    static final int MAX_LINGERING = 1024;

    /** With {@link #MAX_LINGERING}, or fewer when this process's descriptor limit leaves fewer for refusals. */
    static ConcentratorAdmission from(AppConfig.Admission settings, System.Logger log, AppConfig config) {
        return from(settings, log, FileDescriptorBudget.lingeringLimit(FileDescriptorBudget.currentLimit(), config,
                MAX_LINGERING));
    }

    static ConcentratorAdmission from(AppConfig.Admission settings, System.Logger log, int maxLingering) {
        return new ConcentratorAdmission(settings,
                new Quota<>("connections per source without a complete Convert header "
                        + "(concentrator.max-pending-per-source)", settings.maxPendingPerSource()),
                new Quota<>("connections per source (concentrator.max-connections-per-source)",
                        settings.maxConnectionsPerSource()),
                new Quota<>("connections per cpe key (concentrator.max-connections-per-key)",
                        settings.maxConnectionsPerKey()),
                new RefusalLog(log, settings.refusalLogInterval(), System::nanoTime),
                new AtomicInteger(), maxLingering);
    }
}
