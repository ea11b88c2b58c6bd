package net.hybridproxy.proxy.transport;

import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import net.hybridproxy.proxy.nativeio.Errno;
import net.hybridproxy.proxy.nativeio.Libc;
import net.hybridproxy.proxy.nativeio.NativeException;
import net.hybridproxy.proxy.nativeio.SocketConstants;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.Socket;
import java.util.Optional;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@link NativeSocketOptions#restartCongestionControl}: on a loopback connection that carried data with Linux BBR,
 * the algorithm's state as the kernel reports it ({@code TCP_CC_INFO}) before and after. Setting the algorithm the
 * socket already has changes nothing (the kernel fact the restart works around); the restart clears BBR's bandwidth
 * estimate (and with it a policer-mode rate, {@code lt_bw}: {@code bbr_bw()} reports that one while it is in use)
 * and puts it back in STARTUP, on the same algorithm.
 */
class CongestionControlRestartTest {
    /** {@code TCP_CC_INFO} (include/uapi/linux/tcp.h): the algorithm's own state; for BBR a {@code tcp_bbr_info}. */
    private static final int TCP_CC_INFO = 26;
    /** {@code tcp_bbr.c}'s {@code bbr_high_gain} (2/ln(2) in units of 1/256): STARTUP's pacing gain. */
    private static final int BBR_HIGH_GAIN = 2885 * 256 / 1000 + 1;

    private AcceptingLoopbackListener bound;
    private Channel listener;

    @BeforeEach
    void bindATcpListenerOnBbr() throws Exception {
        Transport transport = Transport.EPOLL;
        assumeTrue(transport.isAvailable(),
                () -> "epoll unavailable here: " + transport.unavailabilityCause().orElse(""));
        bound = new AcceptingLoopbackListener(transport, transport.tcpServer());
        listener = bound.channel();
        try {
            NativeSocketOptions.setCongestionControl(listener, "bbr");
        } catch (NativeException e) {
            assumeTrue(false, () -> "no BBR for this process (tcp_bbr not loaded or not allowed): " + e.getMessage());
        }
    }

    @AfterEach
    void close() throws Exception {
        if (bound != null) {
            bound.close();
        }
    }

    @Test
    void aRestartClearsBbrsBandwidthEstimateWhereSettingItAgainDoesNot() throws Exception {
        try (Socket client = new Socket()) {
            client.connect(listener.localAddress(), 5_000);
            Channel sender = bound.nextAccepted();
            int bytes = 8 << 20;
            sender.writeAndFlush(Unpooled.wrappedBuffer(new byte[bytes]));
            // Not closed before the end: the sender's channel would close at the end of its input, and its socket with it.
            InputStream in = client.getInputStream();
            assertEquals(bytes, in.readNBytes(bytes).length, "the download");
            awaitAllAcknowledged(sender);
            BbrInfo loaded = bbrInfo(sender);
            assertTrue(loaded.bandwidthBytesPerSecond() > 0, "no bandwidth estimate after 8 MiB: " + loaded);

            // The same algorithm again: "No change asking for existing value" (tcp_set_congestion_control()).
            NativeSocketOptions.setCongestionControl(sender, "bbr");
            assertEquals(loaded, bbrInfo(sender), "setting bbr on bbr changed its state");

            assertEquals(Optional.of("bbr"), NativeSocketOptions.restartCongestionControl(sender));
            assertEquals("bbr", NativeSocketOptions.congestionControl(sender));
            BbrInfo fresh = bbrInfo(sender);
            assertEquals(0, fresh.bandwidthBytesPerSecond(), "bandwidth estimate kept: " + fresh);
            // The gains are set from the next acknowledgement on; one small write is one application-limited round,
            // too little to leave STARTUP.
            sender.writeAndFlush(Unpooled.wrappedBuffer(new byte[64 << 10]));
            assertEquals(64 << 10, in.readNBytes(64 << 10).length, "the second download");
            awaitAllAcknowledged(sender);
            BbrInfo again = bbrInfo(sender);
            assertEquals(BBR_HIGH_GAIN, again.pacingGain(), "not in STARTUP: " + again + ", before the restart "
                    + loaded);
        }
    }

    @Test
    void aSocketOnRenoHasNothingToRestart() throws Exception {
        NativeSocketOptions.setCongestionControl(listener, "reno");
        try (Socket client = new Socket()) {
            client.connect(listener.localAddress(), 5_000);
            Channel sender = bound.nextAccepted();
            assertEquals(Optional.empty(), NativeSocketOptions.restartCongestionControl(sender));
            assertEquals("reno", NativeSocketOptions.congestionControl(sender));
        }
    }

    /** Until the sender's TCP has nothing unacknowledged: no acknowledgement can update the estimate afterwards. */
    private static void awaitAllAcknowledged(Channel sender) throws InterruptedException {
        for (int i = 0; i < 1_000; i++) {
            Optional<TcpInfo> info = TcpInfo.read(sender);
            if (info.isPresent() && info.get().unackedBytes() == 0) {
                return;
            }
            Thread.sleep(5);
        }
        throw new AssertionError("the download was never fully acknowledged");
    }

    private record BbrInfo(long bandwidthBytesPerSecond, int minRttMicros, int pacingGain, int cwndGain) {
    }

    private static BbrInfo bbrInfo(Channel channel) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment info = arena.allocate(5 * Integer.BYTES);
            int length = Libc.getsockopt(NativeSocketOptions.fd(channel), SocketConstants.SOL_TCP, TCP_CC_INFO, info);
            if (length < info.byteSize()) {
                throw new NativeException("getsockopt(TCP_CC_INFO): " + length + " bytes", Errno.EINVAL);
            }
            long bandwidth = Integer.toUnsignedLong(info.get(JAVA_INT, 0))
                    | Integer.toUnsignedLong(info.get(JAVA_INT, 4)) << 32;
            return new BbrInfo(bandwidth, info.get(JAVA_INT, 8), info.get(JAVA_INT, 12), info.get(JAVA_INT, 16));
        }
    }
}
