package net.hybridproxy.proxy.role;

import io.netty.channel.Channel;

import java.util.List;

/** One of the appliance's roles, started once on its event loops and closed at shutdown. */
public interface Role extends AutoCloseable {
    /** Binds the role's listeners; returns when they accept connections. */
    void start() throws Exception;

    /** The bound listener channels, for logs, the demo and tests. */
    List<Channel> listeners();

    /**
     * Closes the listeners and leaves accepted connections alone (graceful drain): they finish on their own, or at
     * {@link #close()}.
     */
    default void stopAccepting() {
        listeners().forEach(Channel::close);
    }

    @Override
    void close();
}
