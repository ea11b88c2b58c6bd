package net.hybridproxy.engine.multipath.sim;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.SplittableRandom;
import net.hybridproxy.engine.multipath.connection.ConcentratorEndpoint;
import net.hybridproxy.engine.multipath.connection.Session;
import net.hybridproxy.engine.multipath.connection.SessionConfig;
import net.hybridproxy.engine.multipath.frame.SubflowPriority;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.Size;

/** No bytes a peer can send make the engine throw: they are routed, refused, or close one subflow. */
class SubflowInputPropertiesTest {

    @Property(tries = 2000)
    void anyFirstBytesAreRoutedRefusedOrAwaitMore(@ForAll @Size(max = 120) byte[] bytes) {
        ConcentratorEndpoint endpoint = new ConcentratorEndpoint(SessionConfig.defaults(), List.of(SimPair.KEY), 2,
                new SplittableRandom(1));
        ConcentratorEndpoint.Incoming incoming = endpoint.incoming("fuzz", 0);
        ByteBuffer in = ByteBuffer.wrap(bytes);
        ConcentratorEndpoint.Accept accept;
        do {
            accept = incoming.handleBytes(in, 0);
        } while (accept instanceof ConcentratorEndpoint.Answer && !incoming.isDone());
        assertTrue(accept != null);
    }

    @Property(tries = 300)
    void anyBytesOnAnAttachedSubflowLeaveTheSessionUsable(@ForAll @Size(max = 300) byte[] bytes) {
        SimPair pair = new SimPair(SessionConfig.defaults(),
                List.of(SimLink.of("dsl", 50, 20, 1), SimLink.of("lte", 30, 50, 2)),
                List.of(SubflowPriority.PRIMARY, SubflowPriority.PRIMARY));
        pair.runFor(SimPair.SECOND / 2);
        Session concentrator = pair.concentratorSessions.get(0);

        concentrator.handleSubflowBytes(concentrator.subflows().get(0).id(), ByteBuffer.wrap(bytes), pair.now());
        pair.runFor(SimPair.SECOND / 2);

        assertTrue(pair.cpe.isEstablished() || pair.cpe.isClosed());
    }
}
