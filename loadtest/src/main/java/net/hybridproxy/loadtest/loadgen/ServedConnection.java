package net.hybridproxy.loadtest.loadgen;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;

import java.io.PrintStream;
import java.security.MessageDigest;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The server side of one load-generator connection; runs on its event loop only. Requests, one LF-terminated ASCII
 * line each:
 * <ul>
 *   <li>{@code DOWN seed=<s> bytes=<n>} or {@code DOWN seed=<s> ms=<t> [kbit=<r>]}: sends exactly n pattern bytes, or
 *       as many as t milliseconds allow (paced to r kbit/s if given), half-closes, then expects
 *       {@code GOT <bytes> <sha256>} and prints {@code DONE op=DOWN peer=.. sent=.. received=.. result=MATCH|MISMATCH}.
 *       It cannot answer on the wire because its direction is closed; the client checks every byte itself. The GOT
 *       line still matters: it proves the client-to-server direction keeps working after the server's FIN, which a
 *       proxy must preserve. A connection that dies first is printed with {@code result=BROKEN}.</li>
 *   <li>{@code UP seed=<s>}: reads the pattern until the client half-closes, checking every byte, then answers
 *       {@code OK <bytes> <sha256> ok|mismatch <peer-ip:port-as-seen>}, prints a {@code DONE op=UP} line and
 *       closes.</li>
 *   <li>{@code GET <bytes>}: answers that many pattern bytes (seed 0); repeatable on one connection.</li>
 * </ul>
 */
final class ServedConnection extends ChannelInboundHandlerAdapter {
    private static final int CHUNK = 64 * 1024;

    private enum ServingPhase { REQUEST, SENDING, AWAIT_GOT, RECEIVING, DONE }

    private final PrintStream log;
    private final LineReader lines = new LineReader();
    private final MessageDigest digest = PayloadPattern.sha256();
    private ServingPhase phase = ServingPhase.REQUEST;
    private PayloadPattern pattern;
    private long position;
    private long byteLimit;
    private long deadline;
    private long startedAt;
    private long paceKbit;
    private boolean paceScheduled;
    private boolean mismatch;

    ServedConnection(PrintStream log) {
        this.log = log;
    }

    private String peer(ChannelHandlerContext ctx) {
        return LoadServer.format(ctx.channel().remoteAddress());
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        ByteBuf in = (ByteBuf) msg;
        try {
            while (in.isReadable() && phase != ServingPhase.DONE) {
                switch (phase) {
                    case REQUEST -> {
                        String line = lines.take(in);
                        if (line != null) {
                            request(ctx, line);
                        }
                    }
                    case RECEIVING -> {
                        if (!mismatch && !pattern.matches(in, position)) {
                            mismatch = true;
                        }
                        PayloadPattern.update(digest, in);
                        position += in.readableBytes();
                        in.skipBytes(in.readableBytes());
                    }
                    case AWAIT_GOT -> {
                        String line = lines.take(in);
                        if (line != null) {
                            got(ctx, line);
                        }
                    }
                    default -> in.skipBytes(in.readableBytes());
                }
            }
        } catch (IllegalArgumentException e) {
            log.println("BAD peer=" + peer(ctx) + " " + e.getMessage());
            phase = ServingPhase.DONE;
            ctx.close();
        } finally {
            in.release();
        }
    }

    private static Map<String, Long> parameters(String[] words) {
        Map<String, Long> p = new HashMap<>();
        for (int i = 1; i < words.length; i++) {
            int eq = words[i].indexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException("expected key=value, got " + words[i]);
            }
            try {
                p.put(words[i].substring(0, eq), Long.parseLong(words[i].substring(eq + 1)));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("not a number: " + words[i]);
            }
        }
        return p;
    }

    private void request(ChannelHandlerContext ctx, String line) {
        String[] w = line.split(" ");
        switch (w[0]) {
            case "DOWN" -> {
                Map<String, Long> p = parameters(w);
                startedAt = System.nanoTime();
                byteLimit = p.getOrDefault("bytes", -1L);
                long ms = p.getOrDefault("ms", -1L);
                if ((byteLimit < 0) == (ms < 0)) {
                    throw new IllegalArgumentException("DOWN needs bytes= or ms=");
                }
                deadline = startedAt + Math.max(0, ms) * 1_000_000;
                pattern = PayloadPattern.of(p.getOrDefault("seed", 0L));
                paceKbit = p.getOrDefault("kbit", 0L);
                phase = ServingPhase.SENDING;
                send(ctx);
            }
            case "UP" -> {
                pattern = PayloadPattern.of(parameters(w).getOrDefault("seed", 0L));
                phase = ServingPhase.RECEIVING;
            }
            case "GET" -> {
                long size;
                try {
                    size = w.length == 2 ? Long.parseLong(w[1]) : -1;
                } catch (NumberFormatException e) {
                    size = -1;
                }
                if (size < 0 || size > LoadServer.MAX_GET) {
                    throw new IllegalArgumentException("GET size out of range: " + line);
                }
                PayloadPattern p = PayloadPattern.of(0);
                for (long pos = 0; pos < size; ) {
                    ByteBuf s = p.slice(pos, (int) Math.min(CHUNK, size - pos));
                    pos += s.readableBytes();
                    ctx.write(s);
                }
                ctx.flush();
            }
            default -> throw new IllegalArgumentException("unknown request " + w[0]);
        }
    }

    private boolean sendingOver() {
        return byteLimit >= 0 ? position >= byteLimit : System.nanoTime() - deadline >= 0;
    }

    /** Writes until the channel is unwritable or the transfer is over; resumed by writability changes. */
    private void send(ChannelHandlerContext ctx) {
        Channel ch = ctx.channel();
        while (phase == ServingPhase.SENDING && ch.isWritable()) {
            if (sendingOver()) {
                phase = ServingPhase.AWAIT_GOT;
                // Half-close only once every byte is written: shutdownOutput fails writes still queued.
                ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(f -> ((DuplexChannel) ch).shutdownOutput());
                return;
            }
            int chunk = CHUNK;
            if (byteLimit >= 0) {
                chunk = (int) Math.min(chunk, byteLimit - position);
            }
            if (paceKbit > 0) {
                // Offered load: never ahead of rate × elapsed; come back when the next chunk is due.
                long allowed = (System.nanoTime() - startedAt) / 1000 * paceKbit / 8000 + CHUNK;
                if (position >= allowed) {
                    if (!paceScheduled) {
                        paceScheduled = true;
                        ctx.executor().schedule(() -> {
                            paceScheduled = false;
                            send(ctx);
                        }, 2, TimeUnit.MILLISECONDS);
                    }
                    break;
                }
                chunk = (int) Math.min(chunk, allowed - position);
            }
            ByteBuf s = pattern.slice(position, chunk);
            PayloadPattern.update(digest, s);
            position += s.readableBytes();
            ctx.write(s);
        }
        ctx.flush();
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        if (phase == ServingPhase.SENDING && ctx.channel().isWritable()) {
            send(ctx);
        }
        ctx.fireChannelWritabilityChanged();
    }

    private void got(ChannelHandlerContext ctx, String line) {
        String[] w = line.split(" ");
        String sha = PayloadPattern.hex(digest);
        boolean match = w.length == 3 && w[0].equals("GOT") && w[1].equals(String.valueOf(position))
                && w[2].equals(sha);
        log.println("DONE op=DOWN peer=" + peer(ctx) + " sent=" + position + " received="
                + (w.length > 1 ? w[1] : "?") + " result=" + (match ? "MATCH" : "MISMATCH"));
        log.flush();
        phase = ServingPhase.DONE;
        ctx.close();
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof ChannelInputShutdownEvent) {
            if (phase == ServingPhase.RECEIVING) {
                String sha = PayloadPattern.hex(digest);
                log.println("DONE op=UP peer=" + peer(ctx) + " received=" + position + " result="
                        + (mismatch ? "MISMATCH" : "MATCH"));
                log.flush();
                phase = ServingPhase.DONE;
                ctx.writeAndFlush(LineReader.encode(ctx.alloc().buffer(), "OK " + position + " " + sha + " "
                        + (mismatch ? "mismatch" : "ok") + " " + peer(ctx))).addListener(ChannelFutureListener.CLOSE);
            } else if (phase != ServingPhase.SENDING && phase != ServingPhase.AWAIT_GOT) {
                ctx.close();
            }
        }
        ctx.fireUserEventTriggered(evt);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        if (phase == ServingPhase.SENDING || phase == ServingPhase.AWAIT_GOT || phase == ServingPhase.RECEIVING) {
            log.println("DONE op=" + (phase == ServingPhase.RECEIVING ? "UP" : "DOWN") + " peer=" + peer(ctx)
                    + (phase == ServingPhase.RECEIVING ? " received=" : " sent=") + position + " result=BROKEN");
            log.flush();
        }
        phase = ServingPhase.DONE;
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        ctx.close();
    }
}
