package net.hybridproxy.proxy.relay;

import io.netty.channel.socket.ChannelOutputShutdownException;
import org.junit.jupiter.api.Test;

import java.io.IOException;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The connection log's close reason tells a reset by the far end from a write this process could not make. */
class RelayCloseReasonTest {

    @Test
    void aResetFromTheFarEndIsNamedAsOne() {
        assertEquals("reset by server side: Connection reset by peer",
                RelayHandler.transportErrorReason(false, new IOException("Connection reset by peer")));
    }

    @Test
    void aWriteAfterThisProcessShutTheOutputDownIsALocalFailure() {
        assertEquals("local write failure on client side (output already shut down): Channel output shutdown",
                RelayHandler.transportErrorReason(true,
                        new ChannelOutputShutdownException("Channel output shutdown")));
    }
}
