package net.hybridproxy.engine.multipath.connection;

import java.net.InetAddress;
import java.util.random.RandomGenerator;
import net.hybridproxy.engine.auth.CpeKey;
import net.hybridproxy.engine.multipath.crypto.CapableProof;
import net.hybridproxy.engine.multipath.crypto.MptcpCrypto;
import net.hybridproxy.engine.multipath.crypto.SessionSecret;
import net.hybridproxy.engine.multipath.frame.CapableAck;
import net.hybridproxy.engine.multipath.frame.CapableSyn;
import net.hybridproxy.engine.multipath.frame.CapableSynAck;
import net.hybridproxy.engine.multipath.frame.FastClose;
import net.hybridproxy.engine.multipath.frame.FrameException;
import net.hybridproxy.engine.multipath.frame.JoinAck;
import net.hybridproxy.engine.multipath.frame.JoinSyn;
import net.hybridproxy.engine.multipath.frame.JoinSynAck;
import net.hybridproxy.engine.multipath.frame.ResetReason;
import net.hybridproxy.engine.multipath.mib.Mib;
import net.hybridproxy.engine.multipath.mib.MibCounter;
import net.hybridproxy.engine.multipath.subflow.Subflow;
import net.hybridproxy.engine.multipath.subflow.SubflowState;

/**
 * A session's keys and the cpe's side of its handshakes (the concentrator's side runs in
 * {@link ConcentratorEndpoint}, before a session exists): Key-A and Key-B, the session secret every later MAC is
 * keyed with (docs/userspace-protocol.md §4.1), CAPABLE_SYN on the first subflow, JOIN_SYN on the others once the
 * concentrator confirmed the session, and the MACs of FAST_CLOSE and ADD_ADDR. The counterpart of the key handling
 * in Linux {@code net/mptcp/subflow.c} and {@code crypto.c}.
 */
final class Handshake {

    private final Session session;
    private final CpeKey cpeKey;
    private final Mib mib;
    private final RandomGenerator random;
    private long localKey;
    private long remoteKey;
    /** Keys every MAC after the capable handshake (null before it); see {@link SessionSecret}. */
    private SessionSecret secret;
    /**
     * cpe: the concentrator has sent a frame after CAPABLE_SYNACK, so it has verified our
     * CAPABLE_ACK and knows the session as established. Joins wait for this: a JOIN_SYN racing the
     * CAPABLE_ACK over a faster path would find no session yet.
     */
    private boolean peerConfirmed;
    private long capableSubflowId = -1;
    /** cpe: the version its CAPABLE_SYN offers ({@link CapableSyn#VERSION} unless the adapter asks for more). */
    private int offeredVersion = CapableSyn.VERSION;
    /** The session's version once the capable handshake chose it (cpe: the CAPABLE_SYNACK's; concentrator: given). */
    private int version = CapableSyn.VERSION;

    Handshake(Session session, CpeKey cpeKey, Mib mib, RandomGenerator random) {
        this.session = session;
        this.cpeKey = cpeKey;
        this.mib = mib;
        this.random = random;
    }

    /** Cpe: a fresh Key-A. */
    void newLocalKey() {
        localKey = MptcpCrypto.newKey(random);
    }

    /** Concentrator: the keys, version and secret of a handshake the endpoint completed. */
    void completed(long local, long remote, int chosenVersion, SessionSecret sessionSecret) {
        localKey = local;
        remoteKey = remote;
        version = chosenVersion;
        secret = sessionSecret;
    }

    /** cpe: offer {@code v} (2 or 3) in the next CAPABLE_SYN. */
    void offerVersion(int v) {
        if (v < CapableSyn.VERSION || v > CapableSyn.VERSION_LARGE_FRAMES) {
            throw new IllegalArgumentException("protocol version " + v + " (" + CapableSyn.VERSION + ".."
                    + CapableSyn.VERSION_LARGE_FRAMES + ")");
        }
        offeredVersion = v;
    }

    /**
     * cpe: the concentrator refused our CAPABLE_SYN as a protocol error. A concentrator of version 2 answers every
     * other version so (rolling upgrades update concentrators first, but a cpe may still meet an old one): offer
     * version 2 from then on. Returns whether this fell back (false when version 2 was already offered: the refusal
     * was something else).
     */
    boolean fallBackAfterRefusal() {
        if (offeredVersion == CapableSyn.VERSION) {
            return false;
        }
        offeredVersion = CapableSyn.VERSION;
        return true;
    }

    /** The session's protocol version (before the capable handshake: {@link CapableSyn#VERSION}). */
    int version() {
        return version;
    }

    long localKey() {
        return localKey;
    }

    SessionSecret secret() {
        return secret;
    }

    String keyId() {
        return cpeKey.id();
    }

    private SessionSecret.Sender self() {
        return session.role() == Session.Side.CPE ? SessionSecret.Sender.A : SessionSecret.Sender.B;
    }

    private SessionSecret.Sender peer() {
        return session.role() == Session.Side.CPE ? SessionSecret.Sender.B : SessionSecret.Sender.A;
    }

    // ------------------------------------------------------------------ cpe: capable and joins

    /** Cpe: CAPABLE_SYN on one waiting subflow if no session exists, JOIN_SYN on all once it is confirmed. */
    void start(Iterable<Subflow> subflows, long now) {
        if (session.role() != Session.Side.CPE) {
            return;
        }
        boolean capableInProgress = false;
        for (Subflow s : subflows) {
            capableInProgress |= s.state() == SubflowState.CAPABLE_SENT;
        }
        for (Subflow subflow : subflows) {
            if (subflow.state() != SubflowState.WAITING_FOR_SESSION) {
                continue;
            }
            if (session.isEstablished()) {
                if (!peerConfirmed) {
                    continue;
                }
                subflow.localNonce(random.nextInt());
                subflow.queueControl(new JoinSyn(version, subflow.priority(), subflow.addressId(),
                        MptcpCrypto.token(remoteKey), subflow.localNonce()));
                subflow.state(SubflowState.JOIN_SENT);
                subflow.handshakeSentAt(now);
            } else if (!capableInProgress) {
                subflow.queueControl(new CapableSyn(offeredVersion, subflow.priority(), localKey, cpeKey.id()));
                subflow.state(SubflowState.CAPABLE_SENT);
                subflow.handshakeSentAt(now);
                capableSubflowId = subflow.id();
                capableInProgress = true;
            }
        }
    }

    /**
     * Cpe: any frame but CAPABLE_SYNACK on the capable subflow means the concentrator verified our CAPABLE_ACK
     * (it sends a PING on attaching): joins may start. Returns whether this frame was the confirmation.
     */
    boolean confirmedBy(Subflow subflow, boolean isCapableSynAck) {
        if (session.role() != Session.Side.CPE || peerConfirmed || subflow.id() != capableSubflowId
                || isCapableSynAck) {
            return false;
        }
        peerConfirmed = true;
        return true;
    }

    /** Cpe: verifies the concentrator's proof, answers with ours and derives the session secret. */
    void onCapableSynAck(Subflow subflow, CapableSynAck synAck) throws FrameException {
        int chosen = synAck.version();
        if (chosen < CapableSyn.VERSION || chosen > offeredVersion) {
            throw new FrameException("concentrator chose version " + chosen + "; this cpe offered "
                    + offeredVersion);
        }
        // The proofs and the secret cover the chosen version: a CAPABLE_SYNACK whose version was changed on the way
        // does not verify. (A CAPABLE_SYN changed from 3 to 2 on the way verifies: a session of version 2, which
        // differs only in its frames' size.)
        byte[] expected = CapableProof.concentrator(cpeKey, chosen, localKey, synAck.key());
        if (!MptcpCrypto.macEquals(expected, synAck.proof())) {
            mib.increment(MibCounter.CAPABLE_PROOF_FAILED);
            throw new FrameException(ResetReason.ADMINISTRATIVELY_PROHIBITED,
                    "concentrator's proof does not verify with key '" + cpeKey.id() + "'");
        }
        remoteKey = synAck.key();
        version = chosen;
        secret = SessionSecret.derive(cpeKey, chosen, localKey, remoteKey);
        subflow.queueControl(new CapableAck(localKey, remoteKey, CapableProof.cpe(cpeKey, chosen, localKey, remoteKey)));
    }

    /**
     * Cpe: verifies JOIN_SYNACK and answers with JOIN_ACK. Returns false if it does not verify: the concentrator
     * answers a token it does not know exactly as a known one, with a MAC it cannot make, so the session is gone
     * there and a new one must start.
     */
    boolean onJoinSynAck(Subflow subflow, JoinSynAck synAck) {
        if (secret.joinSynAckHmac(synAck.nonce(), subflow.localNonce()) != synAck.truncatedHmac()) {
            mib.increment(MibCounter.JOIN_HMAC_FAILED);
            return false;
        }
        subflow.remoteNonce(synAck.nonce());
        subflow.queueControl(new JoinAck(secret.joinAckHmac(subflow.localNonce(), synAck.nonce())));
        return true;
    }

    // ------------------------------------------------------------------ MACs after the handshake

    /** A FAST_CLOSE for {@code streamId} (0: the session), authenticated with the session secret. */
    FastClose fastClose(long streamId, ResetReason reason) {
        return new FastClose(streamId, secret.fastCloseMac(self(), streamId, reason.code()), reason);
    }

    /** RFC 8684 §3.5's MP_FASTCLOSE carries the receiver's key; version 2 carries a MAC instead (FastClose). */
    boolean verifies(FastClose fastClose) {
        return fastClose.mac() == secret.fastCloseMac(peer(), fastClose.streamId(), fastClose.reason().code());
    }

    /** The MAC of an ADD_ADDR this side sends. */
    long addAddrHmac(int addressId, InetAddress address, int port) {
        return secret.addAddrHmac(self(), addressId, address, port);
    }

    /** Whether an ADD_ADDR from the peer carries the right MAC. */
    boolean verifiesAddAddr(int addressId, InetAddress address, int port, long hmac) {
        return secret.addAddrHmac(peer(), addressId, address, port) == hmac;
    }
}
