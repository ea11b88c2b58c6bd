package net.hybridproxy.engine.multipath.connection;

import java.nio.ByteBuffer;
import java.util.Collection;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.random.RandomGenerator;
import net.hybridproxy.engine.auth.CpeKey;
import net.hybridproxy.engine.multipath.crypto.MptcpCrypto;
import net.hybridproxy.engine.multipath.frame.CapableSyn;
import net.hybridproxy.engine.multipath.frame.Frame;
import net.hybridproxy.engine.multipath.frame.FrameCodec;
import net.hybridproxy.engine.multipath.frame.FrameException;
import net.hybridproxy.engine.multipath.frame.FrameReader;
import net.hybridproxy.engine.multipath.frame.JoinSyn;
import net.hybridproxy.engine.multipath.frame.ResetReason;
import net.hybridproxy.engine.multipath.frame.SubflowReset;
import net.hybridproxy.engine.multipath.mib.Mib;
import net.hybridproxy.engine.multipath.mib.MibCounter;

/**
 * The concentrator's entry point: reads the first frame of every accepted TCP connection and
 * routes it to a new session (CAPABLE_SYN) or to the session its token names (JOIN_SYN). The
 * counterpart of Linux {@code net/mptcp/token.c}: the token table lives here, bounded.
 *
 * <p>Usage: for every accepted connection, create an {@link Incoming} with {@link #incoming()}
 * and feed it bytes until it answers {@link Routed} (continue with that session and subflow id,
 * feeding it the bytes left in the buffer) or {@link Refused} (write its bytes, then close). When
 * a session reports {@code SessionClosed}, call {@link #release}. Not thread-safe: the adapter
 * serialises calls (one lock, or one event loop for the endpoint).
 */
public final class ConcentratorEndpoint {

    /** What an incoming connection's first bytes led to. */
    public sealed interface Accept {
    }

    /** The first frame is incomplete. */
    public record NeedMoreBytes() implements Accept {
    }

    /**
     * The connection is subflow {@code subflowId} of {@code session}; the bytes after the first
     * frame belong to it ({@link Session#handleSubflowBytes}), and so does everything after.
     */
    public record Routed(Session session, long subflowId, boolean newSession) implements Accept {
    }

    /** The connection is refused: write {@code reply} (a SUBFLOW_RESET, possibly empty), then close. */
    public record Refused(byte[] reply, String reason) implements Accept {
        public Refused {
            reply = reply.clone();
        }

        @Override
        public byte[] reply() {
            return reply.clone();
        }
    }

    private final SessionConfig config;
    private final Map<String, CpeKey> keys;
    private final RandomGenerator random;
    private final int maxSessions;
    private final Map<Integer, Session> byToken = new HashMap<>();
    private final Mib mib = new Mib();

    /**
     * @param keys        the cpe keys that may authenticate
     * @param maxSessions sessions at most, established or in handshake
     * @param random      a cryptographically strong generator in production
     */
    public ConcentratorEndpoint(SessionConfig config, Collection<CpeKey> keys, int maxSessions,
                                RandomGenerator random) {
        this.config = Objects.requireNonNull(config, "config");
        Map<String, CpeKey> byId = new HashMap<>();
        for (CpeKey key : keys) {
            if (byId.putIfAbsent(key.id(), key) != null) {
                throw new IllegalArgumentException("two cpe keys have the id '" + key.id() + "'");
            }
        }
        this.keys = Map.copyOf(byId);
        if (maxSessions < 1) {
            throw new IllegalArgumentException("maxSessions " + maxSessions + " must be at least 1");
        }
        this.maxSessions = maxSessions;
        this.random = Objects.requireNonNull(random, "random");
    }

    /** A new accepted TCP connection whose first frame is not read yet. */
    public Incoming incoming() {
        return new Incoming();
    }

    /** Forgets a session that reported {@code SessionClosed}. */
    public void release(Session session) {
        byToken.remove(session.localToken(), session);
    }

    /** Sessions currently known (established or in handshake). */
    public int sessionCount() {
        return byToken.size();
    }

    /** Counters of refusals that happen before any session exists. */
    public Mib mib() {
        return mib;
    }

    /** One accepted connection before its first frame has been read. */
    public final class Incoming {

        private final FrameReader reader = new FrameReader();
        private boolean done;

        private Incoming() {
        }

        /** Feeds bytes; consumes only the first frame's bytes from {@code in}. */
        public Accept handleBytes(ByteBuffer in, long now) {
            if (done) {
                throw new IllegalStateException("this connection was already routed or refused");
            }
            Frame first;
            try {
                // Read at most the first frame: whatever follows belongs to the session.
                first = readOne(in);
            } catch (FrameException e) {
                mib.increment(MibCounter.SUBFLOW_PROTOCOL_ERRORS);
                return refuse(e.reason(), e.getMessage());
            }
            if (first == null) {
                return new NeedMoreBytes();
            }
            done = true;
            return switch (first) {
                case CapableSyn syn -> capable(syn, now);
                case JoinSyn join -> join(join, now);
                default -> refuse(ResetReason.PROTOCOL_ERROR,
                        "first frame is " + FrameCodec.name(first.type()) + ", not CAPABLE_SYN or JOIN_SYN");
            };
        }

        /** The reader returns as soon as one frame is whole, leaving what follows in {@code in}. */
        private Frame readOne(ByteBuffer in) throws FrameException {
            return reader.read(in);
        }
    }

    private Accept capable(CapableSyn syn, long now) {
        if (syn.version() != CapableSyn.VERSION) {
            mib.increment(MibCounter.CAPABLE_BAD_VERSION);
            return refuse(ResetReason.PROTOCOL_ERROR, "version " + syn.version() + " is not supported");
        }
        CpeKey key = keys.get(syn.keyId());
        if (key == null) {
            mib.increment(MibCounter.CAPABLE_UNKNOWN_KEY_ID);
            return refuse(ResetReason.ADMINISTRATIVELY_PROHIBITED, "unknown key id '" + syn.keyId() + "'");
        }
        if (byToken.size() >= maxSessions) {
            return refuse(ResetReason.LACK_OF_RESOURCES, "concentrator has its maximum of " + maxSessions + " sessions");
        }
        // RFC 8684 §3.1 has the host pick a key whose token is not already in use locally.
        long localKey;
        do {
            localKey = MptcpCrypto.newKey(random);
        } while (byToken.containsKey(MptcpCrypto.token(localKey)));
        Session session = Session.concentrator(config, key, localKey, random, now);
        long id = session.acceptSubflow(syn, now);
        byToken.put(session.localToken(), session);
        return new Routed(session, id, true);
    }

    private Accept join(JoinSyn join, long now) {
        Session session = byToken.get(join.token());
        if (session == null || session.isClosed()) {
            mib.increment(MibCounter.JOIN_NO_TOKEN);
            // Permanent: the cpe learns that this session is gone and starts a new one.
            return refuse(ResetReason.PROTOCOL_ERROR, "no session has token " + Integer.toHexString(join.token()));
        }
        if (!session.isEstablished()) {
            // A cpe joins only after the concentrator confirmed the session; transient, so it retries.
            return new Refused(new SubflowReset(ResetReason.PROTOCOL_ERROR, true).encode(),
                    "session " + Integer.toHexString(join.token()) + " is still in its capable handshake");
        }
        long id = session.acceptSubflow(join, now);
        if (id < 0) {
            return refuse(ResetReason.LACK_OF_RESOURCES, "session has its maximum of subflows");
        }
        return new Routed(session, id, false);
    }

    private static Accept refuse(ResetReason reason, String why) {
        boolean transientError = reason == ResetReason.LACK_OF_RESOURCES;
        return new Refused(new SubflowReset(reason, transientError).encode(), why);
    }
}
