package net.hybridproxy.engine.multipath.connection;

import net.hybridproxy.engine.multipath.frame.AddAddr;
import net.hybridproxy.engine.multipath.frame.CapableAck;
import net.hybridproxy.engine.multipath.frame.CapableSyn;
import net.hybridproxy.engine.multipath.frame.CapableSynAck;
import net.hybridproxy.engine.multipath.frame.Data;
import net.hybridproxy.engine.multipath.frame.DataAck;
import net.hybridproxy.engine.multipath.frame.FastClose;
import net.hybridproxy.engine.multipath.frame.Frame;
import net.hybridproxy.engine.multipath.frame.FrameCodec;
import net.hybridproxy.engine.multipath.frame.FrameException;
import net.hybridproxy.engine.multipath.frame.JoinAck;
import net.hybridproxy.engine.multipath.frame.JoinSyn;
import net.hybridproxy.engine.multipath.frame.JoinSynAck;
import net.hybridproxy.engine.multipath.frame.MpPrio;
import net.hybridproxy.engine.multipath.frame.Ping;
import net.hybridproxy.engine.multipath.frame.Pong;
import net.hybridproxy.engine.multipath.frame.RemoveAddr;
import net.hybridproxy.engine.multipath.frame.ResetReason;
import net.hybridproxy.engine.multipath.frame.SubflowReset;
import net.hybridproxy.engine.multipath.mib.MibCounter;
import net.hybridproxy.engine.multipath.subflow.Subflow;
import net.hybridproxy.engine.multipath.subflow.SubflowState;

/**
 * What a session does with each frame a subflow delivers (the receive half of Linux {@code net/mptcp/}'s
 * {@code mptcp_incoming_options()}): checks that the frame may arrive in the subflow's state and hands it to the part
 * of the session that owns it: the handshake and keys, the subflow table, the stream table or the announced
 * addresses. A frame that may not arrive where it did is a {@link FrameException}, which closes that subflow.
 */
final class InboundFrames {

    private final Session session;

    InboundFrames(Session session) {
        this.session = session;
    }

    void onFrame(Subflow subflow, Frame frame, long now) throws FrameException {
        // Joins start once the frame that confirms the session is handled: it may be the ADD_ADDR that says
        // where they go.
        boolean confirming = session.handshake.confirmedBy(subflow, frame instanceof CapableSynAck);
        try {
            onConfirmedFrame(subflow, frame, now);
        } finally {
            if (confirming) {
                session.handshake.start(session.subflows.all(), now);
            }
        }
    }

    private void onConfirmedFrame(Subflow subflow, Frame frame, long now) throws FrameException {
        switch (frame) {
            case CapableSynAck synAck -> {
                if (session.role() != Session.Side.CPE || subflow.state() != SubflowState.CAPABLE_SENT) {
                    throw unexpected(subflow, synAck);
                }
                session.handshake.onCapableSynAck(subflow, synAck);
                session.establish(now);
                session.subflows.attach(subflow, now);
                session.handshake.start(session.subflows.all(), now);
            }
            case JoinSynAck synAck -> {
                if (session.role() != Session.Side.CPE || subflow.state() != SubflowState.JOIN_SENT) {
                    throw unexpected(subflow, synAck);
                }
                if (session.handshake.onJoinSynAck(subflow, synAck)) {
                    session.subflows.attach(subflow, now);
                } else {
                    session.subflows.fail(subflow, ResetReason.ADMINISTRATIVELY_PROHIBITED,
                            "JOIN_SYNACK HMAC does not verify", now);
                    session.terminate("the concentrator does not know this session (JOIN_SYNACK HMAC does not verify)",
                            ResetReason.PROTOCOL_ERROR, now);
                }
            }
            case SubflowReset reset -> onSubflowReset(subflow, reset, now);
            case Ping ping -> {
                requireAttached(subflow, frame);
                subflow.queueControl(new Pong(ping.value()));
            }
            case Pong pong -> onPong(subflow, pong, now);
            case MpPrio prio -> {
                requireAttached(subflow, frame);
                session.mib().increment(MibCounter.MP_PRIO_RECEIVED);
                subflow.priority(prio.priority());
            }
            case Data data -> {
                requireAttached(subflow, frame);
                session.streams.onData(data, subflow.uplink(), now);
            }
            case DataAck ack -> {
                requireAttached(subflow, frame);
                session.streams.onDataAck(ack, now);
            }
            case FastClose fastClose -> {
                requireAttached(subflow, frame);
                onFastClose(fastClose, now);
            }
            case AddAddr addAddr -> {
                requireAttached(subflow, frame);
                session.addresses.onAddAddr(addAddr, now);
            }
            case RemoveAddr removeAddr -> {
                requireAttached(subflow, frame);
                session.addresses.onRemoveAddr(removeAddr);
            }
            // The endpoint runs the concentrator's side of both handshakes; none of these belongs on a session.
            case CapableSyn syn -> throw unexpected(subflow, frame);
            case JoinSyn syn -> throw unexpected(subflow, frame);
            case CapableAck ack -> throw unexpected(subflow, frame);
            case JoinAck ack -> throw unexpected(subflow, frame);
        }
    }

    private static FrameException unexpected(Subflow subflow, Frame frame) {
        return new FrameException(FrameCodec.name(frame.type()) + " on subflow " + subflow.id() + " in state "
                + subflow.state());
    }

    private void requireAttached(Subflow subflow, Frame frame) throws FrameException {
        if (!subflow.state().isAttached()) {
            throw unexpected(subflow, frame);
        }
    }

    private void onSubflowReset(Subflow subflow, SubflowReset reset, long now) {
        session.mib().increment(MibCounter.SUBFLOW_RESETS_RECEIVED);
        if (subflow.state() == SubflowState.JOIN_SENT && !reset.transientError()
                && reset.reason() == ResetReason.PROTOCOL_ERROR) {
            // The concentrator refused our JOIN_SYN itself (not its token, which it answers like any other).
            session.terminate("concentrator refused a join permanently; the session is gone",
                    ResetReason.PROTOCOL_ERROR, now);
            return;
        }
        if (subflow.state() == SubflowState.CAPABLE_SENT && !reset.transientError()
                && reset.reason() == ResetReason.PROTOCOL_ERROR && session.handshake.fallBackAfterRefusal()) {
            // A concentrator of version 2 refuses version 3 so; the next capable handshake offers version 2.
            session.mib().increment(MibCounter.CAPABLE_VERSION_FALLBACKS);
        }
        session.subflows.forget(subflow, reset.reason(), "peer reset the subflow (" + reset.reason() + ")");
        session.subflows.closedBookkeeping(subflow, now);
    }

    private void onPong(Subflow subflow, Pong pong, long now) throws FrameException {
        requireAttached(subflow, pong);
        session.subflows.onPong(subflow, pong, now, session.streams.isEmpty()
                ? session.config.probes().idleInterval() : session.config.probes().activeInterval());
    }

    private void onFastClose(FastClose fastClose, long now) {
        if (!session.handshake.verifies(fastClose)) {
            session.mib().increment(MibCounter.FAST_CLOSE_BAD_KEY);
            return;
        }
        if (fastClose.streamId() == FastClose.SESSION) {
            session.terminate("peer closed the session (" + fastClose.reason() + ")", fastClose.reason(), now);
            return;
        }
        session.streams.onFastClose(fastClose);
    }
}
