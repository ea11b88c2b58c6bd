package net.hybridproxy.proxy.transport;

import io.netty.channel.Channel;
import io.netty.channel.ChannelException;
import net.hybridproxy.proxy.nativeio.Errno;
import net.hybridproxy.proxy.nativeio.NativeException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.net.Socket;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The concentrator's {@code mptcp-congestion-control}: TCP_CONGESTION set once on an MPTCP listener reaches the
 * connections it accepts, read back from the kernel on the accepted socket.
 */
class MptcpListenerCongestionControlTest {
    private AcceptingLoopbackListener bound;
    private Channel listener;

    @BeforeEach
    void bindAnMptcpListener() throws Exception {
        Transport transport = Transport.EPOLL;
        assumeTrue(transport.isAvailable(),
                () -> "epoll unavailable here: " + transport.unavailabilityCause().orElse(""));
        try {
            bound = new AcceptingLoopbackListener(transport, transport.mptcpServer());
        } catch (ChannelException e) {
            assumeTrue(false, () -> "no kernel MPTCP here: " + e.getMessage());
        }
        listener = bound.channel();
    }

    @AfterEach
    void close() throws Exception {
        if (bound != null) {
            bound.close();
        }
    }

    @Test
    void anAcceptedConnectionHasTheListenersAlgorithm() throws Exception {
        // reno is built into every kernel and always allowed, and is not the default anywhere that matters.
        NativeSocketOptions.setCongestionControl(listener, "reno");
        assertEquals("reno", NativeSocketOptions.congestionControl(listener));
        try (Socket client = new Socket()) {
            client.connect(listener.localAddress(), 5_000);
            Channel child = bound.nextAccepted();
            assertEquals("reno", NativeSocketOptions.congestionControl(child));
        }
    }

    @Test
    void anAlgorithmTheKernelLacksIsRefused() {
        NativeException e = assertThrows(NativeException.class,
                () -> NativeSocketOptions.setCongestionControl(listener, "no_such_cc"));
        assertEquals(Errno.ENOENT, e.errno());
    }
}
