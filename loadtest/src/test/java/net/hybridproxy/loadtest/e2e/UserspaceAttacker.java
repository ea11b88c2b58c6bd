package net.hybridproxy.loadtest.e2e;

import net.hybridproxy.engine.auth.CpeKey;
import net.hybridproxy.engine.multipath.crypto.CapableProof;
import net.hybridproxy.engine.multipath.crypto.MptcpCrypto;
import net.hybridproxy.engine.multipath.crypto.SessionSecret;
import net.hybridproxy.engine.multipath.frame.CapableAck;
import net.hybridproxy.engine.multipath.frame.CapableSyn;
import net.hybridproxy.engine.multipath.frame.CapableSynAck;
import net.hybridproxy.engine.multipath.frame.Data;
import net.hybridproxy.engine.multipath.frame.FastClose;
import net.hybridproxy.engine.multipath.frame.Frame;
import net.hybridproxy.engine.multipath.frame.FrameException;
import net.hybridproxy.engine.multipath.frame.FrameReader;
import net.hybridproxy.engine.multipath.frame.Ping;
import net.hybridproxy.engine.multipath.frame.Pong;
import net.hybridproxy.engine.multipath.frame.ResetReason;
import net.hybridproxy.engine.multipath.frame.SubflowPriority;
import net.hybridproxy.engine.multipath.frame.SubflowReset;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.security.SecureRandom;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One hostile subflow to a userspace concentrator, speaking the wire protocol of docs/userspace-protocol.md with the
 * engine's own frame records (so the attacks exercise exactly the frames a cpe sends). With a key it can complete a
 * capable handshake and then misbehave inside its own session; without one it can only begin handshakes.
 */
final class UserspaceAttacker implements AutoCloseable {
    private static final SecureRandom RANDOM = new SecureRandom();

    private final Socket socket;
    private final OutputStream out;
    private final InputStream in;
    private final FrameReader reader = new FrameReader();
    private final ByteBuffer received = ByteBuffer.allocate(64 * 1024).flip();
    private final AtomicLong dataBytesReceived = new AtomicLong();
    private final java.util.Map<ResetReason, Integer> fastClosesReceived = new java.util.concurrent.ConcurrentHashMap<>();
    private long keyA;
    private long keyB;
    private SessionSecret secret;

    /** Takes over {@code connected}, a TCP connection to the concentrator's userspace listener. */
    UserspaceAttacker(Socket connected) throws IOException {
        this.socket = connected;
        this.out = connected.getOutputStream();
        this.in = connected.getInputStream();
    }

    /** A CAPABLE_SYN claiming {@code keyId}, with a fresh Key-A. */
    static byte[] capableSyn(String keyId) {
        return new CapableSyn(CapableSyn.VERSION, SubflowPriority.PRIMARY, RANDOM.nextLong(), keyId).encode();
    }

    /**
     * The whole capable handshake with {@code key}, then waits for the concentrator's first PING (the session is
     * established) and answers it.
     */
    void establish(CpeKey key) throws IOException {
        keyA = RANDOM.nextLong();
        send(new CapableSyn(CapableSyn.VERSION, SubflowPriority.PRIMARY, keyA, key.id()).encode());
        CapableSynAck synAck = (CapableSynAck) expect(CapableSynAck.class);
        keyB = synAck.key();
        send(new CapableAck(keyA, keyB, CapableProof.cpe(key, CapableSyn.VERSION, keyA, keyB)).encode());
        secret = SessionSecret.derive(key, CapableSyn.VERSION, keyA, keyB);
        expect(Ping.class);
    }

    /** The concentrator's token for this session (what a JOIN_SYN names). */
    int token() {
        return MptcpCrypto.token(keyB);
    }

    SessionSecret secret() {
        return secret;
    }

    void send(byte[] bytes) throws IOException {
        synchronized (out) {
            out.write(bytes);
        }
    }

    /** The next frame; a PING on the way is answered, DATA is counted and dropped (never DATA_ACKed). */
    Frame receive() throws IOException {
        while (true) {
            if (received.hasRemaining()) {
                Frame frame;
                try {
                    frame = reader.read(received);
                } catch (FrameException e) {
                    throw new IOException("the concentrator sent a malformed frame", e);
                }
                if (frame instanceof Ping ping) {
                    send(new Pong(ping.value()).encode());
                } else if (frame instanceof Data data) {
                    dataBytesReceived.addAndGet(data.payload().length);
                } else if (frame instanceof FastClose close) {
                    fastClosesReceived.merge(close.reason(), 1, Integer::sum);
                }
                if (frame != null) {
                    return frame;
                }
                continue;
            }
            int n = in.read(received.array());
            if (n < 0) {
                throw new IOException("the concentrator closed the subflow");
            }
            received.limit(n).position(0);
        }
    }

    /** Reads frames until one of {@code type}; a SUBFLOW_RESET first is an IOException naming it. */
    Frame expect(Class<? extends Frame> type) throws IOException {
        while (true) {
            Frame frame = receive();
            if (type.isInstance(frame)) {
                return frame;
            }
            if (frame instanceof SubflowReset reset) {
                throw new IOException("refused: " + reset);
            }
        }
    }

    /**
     * FAST_CLOSE of the whole session, with a valid MAC: the concentrator drops it and all its streams at once. Waits
     * a second before returning: a close of the socket right after could reach the concentrator as a reset that
     * discards the FAST_CLOSE unread, leaving the session orphaned (kept for its cpe to rejoin) with its streams.
     */
    void closeSession() throws IOException, InterruptedException {
        send(new FastClose(FastClose.SESSION, secret.fastCloseMac(SessionSecret.Sender.A, FastClose.SESSION,
                ResetReason.UNSPECIFIED.code()), ResetReason.UNSPECIFIED).encode());
        Thread.sleep(1_000);
    }

    /** FAST_CLOSEs the concentrator sent, by reason: its streams it reset or refused. */
    java.util.Map<ResetReason, Integer> fastClosesReceived() {
        return java.util.Map.copyOf(fastClosesReceived);
    }

    /** Payload bytes of DATA frames received (and never acknowledged). */
    long dataBytesReceived() {
        return dataBytesReceived.get();
    }

    /** Many frames as one write, so that a flood of small frames is limited by the concentrator, not by us. */
    static final class Batch {
        private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();

        Batch add(Frame frame) {
            bytes.writeBytes(frame.encode());
            return this;
        }

        int size() {
            return bytes.size();
        }

        void sendTo(UserspaceAttacker attacker) throws IOException {
            attacker.send(bytes.toByteArray());
            bytes.reset();
        }
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
