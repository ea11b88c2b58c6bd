package net.hybridproxy.proxy.relay;

import io.netty.channel.Channel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.epoll.Native;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.reflect.Method;

/**
 * Keeps an epoll channel whose input has been shut down in Netty's epoll set, so that it can still wait for
 * EPOLLOUT while the relay sends through it.
 *
 * <p>Netty 4.2.18's epoll transport turns an empty interest set into {@code EPOLL_CTL_DEL} but leaves the
 * registration marked added. Once the input is shut down (EPOLLRDHUP cleared) and no read is pending (EPOLLIN
 * cleared), the set is empty and the descriptor leaves epoll. The next write that fills the socket's buffers asks
 * for EPOLLOUT with {@code EPOLL_CTL_MOD}, which fails with ENOENT; Netty then shuts the channel's output down and
 * fails what it still queued. The receiver sees a clean FIN after a truncated stream, and the relay, told of the
 * failed writes, resets the other side (loadtest/repro/netty-epoll-del; docs/decisions.md, "Relay: a stream cut
 * short after the receiver's FIN").
 *
 * <p>The workaround adds EPOLLET to the channel's interest set at its input shutdown, while the descriptor is still
 * in the set: the set is never empty again, so Netty modifies it instead of deleting it. Edge-triggered is what
 * keeps it cheap: a level-triggered registration would wake the loop for as long as the socket reports EPOLLHUP
 * (both directions shut, the channel not yet closed while the other direction's tail drains), which Netty does not
 * handle; an edge reports it once. The channel reads nothing more (the relay never asks a finished input for a
 * read), so the edge semantics only apply to EPOLLOUT, where they are the usual ones: Netty asks for EPOLLOUT after
 * a write met a full socket, and the kernel's next wake-up for free space is an edge. It costs an
 * {@code EPOLL_CTL_MOD} of its own (counted: about two more {@code epoll_ctl} per connection at each appliance than
 * before it), so the relay asks for it only at the first FIN of a pair, the one after which the other direction
 * still writes through this channel.
 *
 * <p>Netty's {@code setFlag} is not public; if a Netty version removes it, this does nothing and says so once.
 */
final class HalfClosedEpollRegistration {
    private static final System.Logger LOG = System.getLogger("hybridproxy.relay");
    private static final MethodHandle SET_FLAG = setFlag();

    private HalfClosedEpollRegistration() {
    }

    /** At the channel's input shutdown, before Netty empties its interest set. Not for other transports. */
    static void keep(Channel channel) {
        if (SET_FLAG == null || !(channel instanceof EpollSocketChannel epoll) || !epoll.isOpen()) {
            return;
        }
        try {
            SET_FLAG.invoke(epoll, Native.EPOLLET);
        } catch (Throwable e) {
            // The descriptor left the set already (ENOENT): the relay is then where it was before this existed.
            LOG.log(System.Logger.Level.DEBUG, "could not keep {0} in the epoll set: {1}", channel, e);
        }
    }

    private static MethodHandle setFlag() {
        try {
            Method method = Class.forName("io.netty.channel.epoll.AbstractEpollChannel")
                    .getDeclaredMethod("setFlag", int.class);
            method.setAccessible(true);
            return MethodHandles.lookup().unreflect(method);
        } catch (ReflectiveOperationException | RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "Netty's epoll channel has no setFlag(int) any more: a relay whose "
                    + "receiver half-closed first may end its stream short on epoll (" + e + ")");
            return null;
        }
    }
}
