package net.hybridproxy.proxy.role;

import io.netty.channel.Channel;

import java.util.List;

/** One of the appliance's roles, started once on its event loops and closed at shutdown. */
public interface Role extends AutoCloseable {
    /** Binds the role's listeners; returns when they accept connections. */
    void start() throws Exception;

    /** The bound listener channels, for logs, the demo and tests. */
    List<Channel> listeners();

    @Override
    void close();
}
