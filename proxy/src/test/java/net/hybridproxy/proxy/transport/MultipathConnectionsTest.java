package net.hybridproxy.proxy.transport;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** When the settling listener is told, and when it is told that the counters were just read. */
class MultipathConnectionsTest {
    private final MultipathConnections connections = new MultipathConnections();
    private final List<String> calls = new ArrayList<>();

    MultipathConnectionsTest() {
        connections.onSettling((channel, closing, readJustNow) ->
                calls.add((closing ? "closing" : "data-fin") + (readJustNow ? " (just read)" : "")));
    }

    @Test
    void aCloseWithinTheDataFinsHandlingIsToldTheCountersWereJustRead() {
        // The relay's way at the second FIN: the handler behind the sample closes the channel inside the event.
        EmbeddedChannel channel = new EmbeddedChannel(new ChannelInboundHandlerAdapter() {
            @Override
            public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
                ctx.close();
            }
        });
        connections.add(channel);

        channel.pipeline().fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);

        assertEquals(List.of("data-fin", "closing (just read)"), calls);
    }

    @Test
    void aCloseAfterTheDataFinWasHandledReadsAgain() {
        // The first FIN of a pair: the relay forwards it and the pair lives on, here for the other direction.
        EmbeddedChannel channel = new EmbeddedChannel(new ChannelInboundHandlerAdapter());
        connections.add(channel);

        channel.pipeline().fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
        channel.close();

        assertEquals(List.of("data-fin", "closing"), calls);
    }

    @Test
    void aCloseWithoutADataFinReadsOnce() {
        EmbeddedChannel channel = new EmbeddedChannel(new ChannelInboundHandlerAdapter());
        connections.add(channel);

        channel.close();
        channel.pipeline().fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);

        assertEquals(List.of("closing"), calls);
    }
}
