package net.hybridproxy.engine.multipath.connection;

import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.random.RandomGenerator;
import net.hybridproxy.engine.auth.CpeKey;
import net.hybridproxy.engine.multipath.crypto.CapableProof;
import net.hybridproxy.engine.multipath.crypto.MptcpCrypto;
import net.hybridproxy.engine.multipath.crypto.SessionSecret;
import net.hybridproxy.engine.multipath.frame.CapableAck;
import net.hybridproxy.engine.multipath.frame.CapableSyn;
import net.hybridproxy.engine.multipath.frame.CapableSynAck;
import net.hybridproxy.engine.multipath.frame.Frame;
import net.hybridproxy.engine.multipath.frame.FrameCodec;
import net.hybridproxy.engine.multipath.frame.FrameException;
import net.hybridproxy.engine.multipath.frame.FrameReader;
import net.hybridproxy.engine.multipath.frame.JoinAck;
import net.hybridproxy.engine.multipath.frame.JoinSyn;
import net.hybridproxy.engine.multipath.frame.JoinSynAck;
import net.hybridproxy.engine.multipath.frame.ResetReason;
import net.hybridproxy.engine.multipath.frame.SubflowReset;
import net.hybridproxy.engine.multipath.mib.Mib;
import net.hybridproxy.engine.multipath.mib.MibCounter;

/**
 * The concentrator's entry point: runs the capable and join handshakes of every accepted TCP connection and
 * routes it to a new session (capable) or to the session its token names (join). The counterpart of Linux
 * {@code net/mptcp/token.c}: the token table lives here, bounded.
 *
 * <h2>Nothing before the proof</h2>
 * A CAPABLE_SYN allocates no session and no token: the concentrator answers with CAPABLE_SYNACK and keeps the
 * handshake's few fields in the connection's {@link Incoming} until a CAPABLE_ACK proves the cpe's key; only then
 * does a session exist. A JOIN_SYN likewise attaches nothing until its JOIN_ACK verifies. Unknown key ids and
 * unknown tokens get the same answers as known ones (a SYNACK, whose proof or HMAC the sender cannot check without
 * the key, then SUBFLOW_RESET(3) for its ACK), so neither key ids nor tokens can be probed.
 *
 * <h2>Quotas</h2>
 * Handshakes in progress are bounded in total and per source (an address, as the adapter names it), each by the
 * handshake timeout; authenticated sessions are bounded in total and per key. A key's quota counts only sessions
 * that proved the key, so nobody without it can use up that key's share.
 *
 * <p>Usage: for every accepted connection, create an {@link Incoming} with {@link #incoming} and feed it bytes
 * until it answers {@link Routed} (continue with that session and subflow id, feeding it the bytes left in the
 * buffer) or {@link ConnectionRefused} (write its bytes, then close); write every {@link Answer} and keep feeding. Call
 * {@link Incoming#handleTimeout} at {@link Incoming#deadline()} and {@link Incoming#close} when the connection goes
 * away first. When a session reports {@code SessionClosed}, call {@link #release}. Not thread-safe: the adapter
 * serialises calls (one lock, or one event loop for the endpoint).
 */
public final class ConcentratorEndpoint {

    /** What an incoming connection's bytes led to. */
    public sealed interface Accept {
    }

    /** The handshake needs more bytes. */
    public record HandshakeIncomplete() implements Accept {
    }

    /** Write {@code reply} on the connection, then keep feeding it bytes. */
    public record Answer(byte[] reply) implements Accept {
        public Answer {
            reply = reply.clone();
        }

        @Override
        public byte[] reply() {
            return reply.clone();
        }
    }

    /**
     * The connection is subflow {@code subflowId} of {@code session}, attached; the bytes after the handshake
     * belong to it ({@link Session#handleSubflowBytes}), and so does everything after.
     */
    public record Routed(Session session, long subflowId, boolean newSession) implements Accept {
    }

    /** The connection is refused: write {@code reply} (a SUBFLOW_RESET, possibly empty), then close. */
    public record ConnectionRefused(byte[] reply, String reason) implements Accept {
        public ConnectionRefused {
            reply = reply.clone();
        }

        @Override
        public byte[] reply() {
            return reply.clone();
        }
    }

    /**
     * Bounds on what the endpoint holds; {@link #defaults()} says why each default is what it is.
     *
     * @param maxSessions           sessions at most
     * @param maxSessionsPerKey     sessions one cpe key may hold
     * @param maxPending            connections in their handshake at most
     * @param maxPendingPerSource   connections in their handshake from one source
     */
    public record Limits(int maxSessions, int maxSessionsPerKey, int maxPending, int maxPendingPerSource) {
        public Limits {
            if (maxSessions < 1 || maxSessionsPerKey < 1 || maxPending < 1 || maxPendingPerSource < 1) {
                throw new IllegalArgumentException("every endpoint limit must be at least 1: " + maxSessions + ", "
                        + maxSessionsPerKey + ", " + maxPending + ", " + maxPendingPerSource);
            }
        }

        /**
         * {@code maxSessions} sessions; 64 per key (a cpe runs one session per event loop, and a restarted cpe's
         * old sessions linger until their orphan timeout); 64 handshakes in progress per source (a gateway opens a
         * few subflows per session at once, and a handshake takes one round trip) and 8192 in total: a handshake in
         * progress holds a socket and about 200 bytes, so the total is an overload guard against many sources,
         * not a quota that one source could fill.
         */
        public static Limits defaults(int maxSessions) {
            return new Limits(maxSessions, 64, 8192, 64);
        }
    }

    private final SessionConfig config;
    private final Map<String, CpeKey> keys;
    private final RandomGenerator random;
    private final Limits limits;
    private final MemoryBudget memory;
    private final Map<Integer, Session> byToken = new HashMap<>();
    private final Map<String, Integer> sessionsByKey = new HashMap<>();
    private final Map<String, Integer> pendingBySource = new HashMap<>();
    private int pending;
    /** Proofs and MACs for unknown key ids and tokens are computed with this, so that they cost the same time. */
    private final byte[] decoySecret = new byte[32];
    private final Mib mib = new Mib();
    /** This concentrator's own addresses, announced to every new session (ADD_ADDR ids 1, 2, ...). */
    private List<InetSocketAddress> announced = List.of();

    /**
     * @param keys        the cpe keys that may authenticate
     * @param maxSessions sessions at most (the other limits take their defaults)
     * @param random      a cryptographically strong generator in production
     */
    public ConcentratorEndpoint(SessionConfig config, Collection<CpeKey> keys, int maxSessions,
                                RandomGenerator random) {
        this(config, keys, Limits.defaults(maxSessions), random);
    }

    public ConcentratorEndpoint(SessionConfig config, Collection<CpeKey> keys, Limits limits, RandomGenerator random) {
        this(config, keys, limits, MemoryBudget.unlimited(), random);
    }

    /**
     * @param memory the process-wide memory budget every session also counts against, with each key's sessions
     *               within its key share ({@link MemoryBudget#forKey})
     */
    public ConcentratorEndpoint(SessionConfig config, Collection<CpeKey> keys, Limits limits, MemoryBudget memory,
                                RandomGenerator random) {
        this.memory = Objects.requireNonNull(memory, "memory");
        this.config = Objects.requireNonNull(config, "config");
        Map<String, CpeKey> byId = new HashMap<>();
        for (CpeKey key : keys) {
            if (byId.putIfAbsent(key.id(), key) != null) {
                throw new IllegalArgumentException("two cpe keys have the id '" + key.id() + "'");
            }
        }
        this.keys = Map.copyOf(byId);
        this.limits = Objects.requireNonNull(limits, "limits");
        this.random = Objects.requireNonNull(random, "random");
        random.nextBytes(decoySecret);
    }

    /**
     * Announces these addresses (ADD_ADDR, ids 1, 2, ... in this order) on the first subflow of every session
     * created from now on, before the frame that confirms the session, so that the cpe knows where to join before
     * it sends its first JOIN_SYN. A replica behind a balanced public address announces its own
     * (docs/operations.md, "Concentrator scale-out"): the cpe's joins then reach the replica holding the session.
     */
    public void announceToNewSessions(List<InetSocketAddress> addresses) {
        if (addresses.size() > 255) {
            throw new IllegalArgumentException(addresses.size() + " addresses to announce; address ids are 1..255");
        }
        announced = List.copyOf(addresses);
    }

    /**
     * A new accepted TCP connection from {@code source} (an address, or any name that groups connections the
     * quota should count together), whose handshake starts at {@code now}.
     */
    public Incoming incoming(String source, long now) {
        return new Incoming(Objects.requireNonNull(source, "source"), now);
    }

    /** Forgets a session that reported {@code SessionClosed}. */
    public void release(Session session) {
        if (byToken.remove(session.localToken(), session)) {
            sessionsByKey.computeIfPresent(session.keyId(), (k, n) -> n > 1 ? n - 1 : null);
        }
    }

    /** Sessions currently known (all authenticated). */
    public int sessionCount() {
        return byToken.size();
    }

    /** Connections in their handshake. */
    public int pendingCount() {
        return pending;
    }

    /** Counters of what happens before a session exists (refusals, failed proofs, timeouts). */
    public Mib mib() {
        return mib;
    }

    private enum Phase { FIRST_FRAME, CAPABLE_SENT, JOIN_SENT, DONE }

    /** One accepted connection in its handshake. */
    public final class Incoming {

        private final FrameReader reader = new FrameReader();
        private final String source;
        private final long deadline;
        private final boolean admitted;
        private Phase phase = Phase.FIRST_FRAME;
        /** Capable: the cpe's CAPABLE_SYN, our key, and the PSK it named (null when unknown). */
        private CapableSyn syn;
        /** The version this session will speak: the lower of the cpe's and ours. */
        private int version;
        private long localKey;
        private CpeKey key;
        /** Join: the session its token named (null when unknown), its JOIN_SYN and our nonce. */
        private Session joining;
        private JoinSyn join;
        private int localNonce;

        private Incoming(String source, long now) {
            this.source = source;
            this.deadline = now + config.handshakeTimeout().toNanos();
            int fromSource = pendingBySource.getOrDefault(source, 0);
            this.admitted = pending < limits.maxPending() && fromSource < limits.maxPendingPerSource();
            if (admitted) {
                pending++;
                pendingBySource.put(source, fromSource + 1);
            }
        }

        /** When the handshake must have completed: call {@link #handleTimeout} then. */
        public long deadline() {
            return deadline;
        }

        /** Whether the handshake is over (routed, refused, timed out or closed). */
        public boolean isDone() {
            return phase == Phase.DONE;
        }

        /**
         * Feeds bytes; consumes only the handshake's frames from {@code in}: whatever follows the last one belongs
         * to the session.
         */
        public Accept handleBytes(ByteBuffer in, long now) {
            if (phase == Phase.DONE) {
                throw new IllegalStateException("this connection was already routed or refused");
            }
            if (!admitted) {
                mib.increment(MibCounter.HANDSHAKES_REFUSED_QUOTA);
                return refuse(ResetReason.LACK_OF_RESOURCES, "too many handshakes in progress (" + pending
                        + " of " + limits.maxPending() + ", " + pendingBySource.getOrDefault(source, 0) + " of "
                        + limits.maxPendingPerSource() + " from " + source + ")");
            }
            if (now >= deadline) {
                return handleTimeout(now);
            }
            Frame frame;
            try {
                frame = reader.read(in);
            } catch (FrameException e) {
                mib.increment(MibCounter.SUBFLOW_PROTOCOL_ERRORS);
                return refuse(e.reason(), e.getMessage());
            }
            if (frame == null) {
                return new HandshakeIncomplete();
            }
            return switch (phase) {
                case FIRST_FRAME -> switch (frame) {
                    case CapableSyn capable -> capableSyn(capable);
                    case JoinSyn joinSyn -> joinSyn(joinSyn);
                    default -> refuse(ResetReason.PROTOCOL_ERROR,
                            "first frame is " + FrameCodec.name(frame.type()) + ", not CAPABLE_SYN or JOIN_SYN");
                };
                case CAPABLE_SENT -> frame instanceof CapableAck ack ? capableAck(ack, now)
                        : refuse(ResetReason.PROTOCOL_ERROR, FrameCodec.name(frame.type()) + " instead of CAPABLE_ACK");
                case JOIN_SENT -> frame instanceof JoinAck ack ? joinAck(ack, now)
                        : refuse(ResetReason.PROTOCOL_ERROR, FrameCodec.name(frame.type()) + " instead of JOIN_ACK");
                case DONE -> throw new IllegalStateException("unreachable");
            };
        }

        /** The handshake's deadline passed: the connection is refused (write the reply, close). */
        public Accept handleTimeout(long now) {
            if (phase == Phase.DONE || now < deadline) {
                return new HandshakeIncomplete();
            }
            mib.increment(MibCounter.HANDSHAKES_TIMED_OUT);
            return refuse(ResetReason.PROTOCOL_ERROR, "handshake not completed within " + config.handshakeTimeout());
        }

        /** The connection went away before its handshake completed. */
        public void close() {
            finish();
        }

        private Accept capableSyn(CapableSyn capable) {
            if (capable.version() < CapableSyn.VERSION) {
                mib.increment(MibCounter.CAPABLE_BAD_VERSION);
                return refuse(ResetReason.PROTOCOL_ERROR, "version " + capable.version() + " is not supported");
            }
            // Version 2 cpes keep working while they are upgraded (concentrators first); a newer cpe gets ours.
            version = Math.min(capable.version(), CapableSyn.VERSION_LARGE_FRAMES);
            if (byToken.size() >= limits.maxSessions()) {
                return refuse(ResetReason.LACK_OF_RESOURCES,
                        "concentrator has its maximum of " + limits.maxSessions() + " sessions");
            }
            syn = capable;
            key = keys.get(capable.keyId());
            if (key == null) {
                mib.increment(MibCounter.CAPABLE_UNKNOWN_KEY_ID); // counted here, told to nobody
            }
            // RFC 8684 §3.1 has the host pick a key whose token is not already in use locally.
            do {
                localKey = MptcpCrypto.newKey(random);
            } while (byToken.containsKey(MptcpCrypto.token(localKey)));
            // An unknown key id gets a proof made with a secret nobody has: the same answer, at the same cost.
            byte[] proof = key != null ? CapableProof.concentrator(key, version, capable.key(), localKey)
                    : CapableProof.proof(decoySecret, CapableProof.CONCENTRATOR_LABEL, version, capable.key(), localKey);
            phase = Phase.CAPABLE_SENT;
            return new Answer(new CapableSynAck(version, localKey, proof).encode());
        }

        private Accept capableAck(CapableAck ack, long now) {
            byte[] expected = CapableProof.proof(key != null ? key.secret() : decoySecret, CapableProof.CPE_LABEL,
                    version, syn.key(), localKey);
            boolean verified = MptcpCrypto.macEquals(expected, ack.proof());
            if (key == null) {
                return refuse(ResetReason.ADMINISTRATIVELY_PROHIBITED, "unknown key id '" + syn.keyId() + "'");
            }
            if (!verified || ack.localKey() != syn.key() || ack.remoteKey() != localKey) {
                mib.increment(MibCounter.CAPABLE_PROOF_FAILED);
                return refuse(ResetReason.ADMINISTRATIVELY_PROHIBITED,
                        "cpe's proof does not verify for key '" + key.id() + "'");
            }
            if (byToken.size() >= limits.maxSessions()) {
                return refuse(ResetReason.LACK_OF_RESOURCES,
                        "concentrator has its maximum of " + limits.maxSessions() + " sessions");
            }
            if (sessionsByKey.getOrDefault(key.id(), 0) >= limits.maxSessionsPerKey()) {
                mib.increment(MibCounter.SESSIONS_REFUSED_KEY_LIMIT);
                return refuse(ResetReason.LACK_OF_RESOURCES, "key '" + key.id() + "' holds its maximum of "
                        + limits.maxSessionsPerKey() + " sessions");
            }
            if (byToken.containsKey(MptcpCrypto.token(localKey))) {
                // Another session took the token while this handshake was under way (a 2^-32 chance per session).
                return refuse(ResetReason.LACK_OF_RESOURCES, "token collision; retry");
            }
            SessionSecret secret = SessionSecret.derive(key, version, syn.key(), localKey);
            Session session = Session.concentrator(config, key, localKey, syn.key(), version, secret, random,
                    memory.forKey(key.id()), now);
            session.announceOnFirstSubflow(announced);
            long id = session.attachSubflow(0, syn.priority(), now);
            byToken.put(session.localToken(), session);
            sessionsByKey.merge(key.id(), 1, Integer::sum);
            finish();
            return new Routed(session, id, true);
        }

        private Accept joinSyn(JoinSyn joinSyn) {
            Session session = byToken.get(joinSyn.token());
            join = joinSyn;
            localNonce = random.nextInt();
            long hmac;
            if (session == null || session.isClosed() || joinSyn.version() != session.version()) {
                // Unknown tokens are answered like known ones (with a MAC only the key's holder could check), so
                // that valid tokens cannot be found by probing; the JOIN_ACK is then refused.
                mib.increment(MibCounter.JOIN_NO_TOKEN);
                hmac = ByteBuffer.wrap(MptcpCrypto.hmacSha256(decoySecret,
                        ByteBuffer.allocate(8).putInt(localNonce).putInt(joinSyn.nonce()).array())).getLong(0);
            } else {
                joining = session;
                hmac = session.secret().joinSynAckHmac(localNonce, joinSyn.nonce());
            }
            phase = Phase.JOIN_SENT;
            return new Answer(new JoinSynAck(0, hmac, localNonce).encode());
        }

        private Accept joinAck(JoinAck ack, long now) {
            Session session = joining;
            if (session == null || session.isClosed()) {
                return refuse(ResetReason.ADMINISTRATIVELY_PROHIBITED, "JOIN_ACK for no session");
            }
            byte[] expected = session.secret().joinAckHmac(join.nonce(), localNonce);
            if (!MptcpCrypto.macEquals(expected, ack.hmac())) {
                mib.increment(MibCounter.JOIN_HMAC_FAILED);
                return refuse(ResetReason.ADMINISTRATIVELY_PROHIBITED, "JOIN_ACK HMAC does not verify");
            }
            long id = session.attachSubflow(join.addressId(), join.priority(), now);
            if (id < 0) {
                return refuse(ResetReason.LACK_OF_RESOURCES, "session has its maximum of subflows");
            }
            finish();
            return new Routed(session, id, false);
        }

        private Accept refuse(ResetReason reason, String why) {
            finish();
            boolean transientError = reason == ResetReason.LACK_OF_RESOURCES;
            return new ConnectionRefused(new SubflowReset(reason, transientError).encode(), why);
        }

        private void finish() {
            if (phase != Phase.DONE && admitted) {
                pending--;
                pendingBySource.computeIfPresent(source, (s, n) -> n > 1 ? n - 1 : null);
            }
            phase = Phase.DONE;
        }
    }
}
