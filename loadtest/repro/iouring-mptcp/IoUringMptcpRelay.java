import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.unix.UnixChannel;
import io.netty.channel.uring.IoUringIoHandler;
import io.netty.channel.uring.IoUringServerSocketChannel;
import io.netty.channel.uring.IoUringSocketChannel;

import java.io.InputStream;
import java.io.OutputStream;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.CompletableFuture;

/**
 * Standalone: a Netty relay (plain TCP listener -> outbound connection) on one transport, with the outbound socket
 * either plain TCP or swapped for an MPTCP socket (socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP) dup3()ed over the
 * channel's fd before registration). A JDK client and a JDK backend exchange 16 MiB each way at once, each half-
 * closing after its last byte; the relay forwards the half-closes. Prints what each side received.
 *
 * usage: java IoUringMptcpRelay io_uring|epoll mptcp|mptcp-ring|tcp [rounds]
 */
public class IoUringMptcpRelay {
    static final int SIZE = 16 << 20;
    /** Blocking JDK socket work; not the common pool, which may have a single thread on a small machine. */
    static final java.util.concurrent.ExecutorService IO = java.util.concurrent.Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r);
        t.setDaemon(true);
        return t;
    });
    static final java.util.concurrent.atomic.AtomicInteger FAILED_WRITES = new java.util.concurrent.atomic.AtomicInteger();
    static final MethodHandle SOCKET, DUP3, CLOSE;
    static {
        Linker l = Linker.nativeLinker();
        var libc = l.defaultLookup();
        SOCKET = l.downcallHandle(libc.find("socket").orElseThrow(), FunctionDescriptor.of(ValueLayout.JAVA_INT,
                ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
        DUP3 = l.downcallHandle(libc.find("dup3").orElseThrow(), FunctionDescriptor.of(ValueLayout.JAVA_INT,
                ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
        CLOSE = l.downcallHandle(libc.find("close").orElseThrow(), FunctionDescriptor.of(ValueLayout.JAVA_INT,
                ValueLayout.JAVA_INT));
    }

    static void makeMptcp(Channel ch) throws Throwable {
        int fd = ((UnixChannel) ch).fd().intValue();
        int mptcp = (int) SOCKET.invokeExact(2 /* AF_INET */, 1 | 04000 | 02000000 /* STREAM|NONBLOCK|CLOEXEC */, 262);
        if (mptcp < 0) throw new IllegalStateException("socket(IPPROTO_MPTCP) failed");
        if ((int) DUP3.invokeExact(mptcp, fd, 02000000) < 0) throw new IllegalStateException("dup3 failed");
        int ignored = (int) CLOSE.invokeExact(mptcp);
    }

    public static void main(String[] args) throws Throwable {
        boolean uring = args[0].equals("io_uring");
        boolean mptcp = args[1].startsWith("mptcp");
        // mptcp-ring: the outbound channel reads through a provided-buffer ring (multishot recv) instead of Netty's
        // default single recv armed with IORING_RECVSEND_POLL_FIRST.
        boolean ring = args[1].equals("mptcp-ring");
        int rounds = args.length > 2 ? Integer.parseInt(args[2]) : 5;
        IoHandlerFactory handler = !uring ? EpollIoHandler.newFactory() : !ring ? IoUringIoHandler.newFactory()
                : IoUringIoHandler.newFactory(new io.netty.channel.uring.IoUringIoHandlerConfig().setBufferRingConfig(
                        io.netty.channel.uring.IoUringBufferRingConfig.builder().bufferGroupId((short) 1)
                                .bufferRingSize((short) 64).batchSize(16)
                                .allocator(new io.netty.channel.uring.IoUringFixedBufferRingAllocator(16384)).build()));
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, handler);
        InetAddress lo = InetAddress.getLoopbackAddress();
        ServerSocket backend = new ServerSocket(0, 50, lo);
        InetSocketAddress backendAddress = (InetSocketAddress) backend.getLocalSocketAddress();
        Channel listener = new ServerBootstrap().group(group)
                .channelFactory(uring ? IoUringServerSocketChannel::new : EpollServerSocketChannel::new)
                .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel client) {
                        client.config().setAutoRead(false);
                        client.pipeline().addLast(new ChannelInboundHandlerAdapter() {
                            @Override
                            public void channelActive(ChannelHandlerContext ctx) {
                                new Bootstrap().group(client.eventLoop())
                                        .channelFactory(() -> {
                                            SocketChannel ch = uring ? new IoUringSocketChannel() : new EpollSocketChannel();
                                            if (ring) {
                                                ch.config().setOption(
                                                        io.netty.channel.uring.IoUringChannelOption.IO_URING_BUFFER_GROUP_ID,
                                                        (short) 1);
                                            }
                                            if (mptcp) {
                                                try {
                                                    makeMptcp(ch);
                                                } catch (Throwable t) {
                                                    throw new RuntimeException(t);
                                                }
                                            }
                                            return ch;
                                        })
                                        .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                                        .handler(new Forward(client, "backend"))
                                        .connect(backendAddress).addListener((ChannelFutureListener) f -> {
                                            if (!f.isSuccess()) {
                                                f.cause().printStackTrace();
                                                client.close();
                                                return;
                                            }
                                            client.pipeline().addLast(new Forward(f.channel(), "client"));
                                            client.config().setAutoRead(true);
                                        });
                            }
                        });
                    }
                }).bind(new InetSocketAddress(lo, 0)).sync().channel();

        int failures = 0;
        for (int round = 1; round <= rounds; round++) {
            FAILED_WRITES.set(0);
            byte[] up = random(SIZE, round);
            byte[] down = random(SIZE, -round);
            CompletableFuture<byte[]> backendGot = CompletableFuture.supplyAsync(() -> {
                try (Socket s = backend.accept()) {
                    s.setSoTimeout(20_000);
                    CompletableFuture<Void> send = CompletableFuture.runAsync(() -> sendAndHalfClose(s, down), IO);
                    byte[] got = s.getInputStream().readAllBytes();
                    return got;
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            }, IO);
            long t0 = System.nanoTime();
            try (Socket c = new Socket()) {
                c.connect(listener.localAddress(), 5000);
                c.setSoTimeout(20_000);
                CompletableFuture<Void> send = CompletableFuture.runAsync(() -> sendAndHalfClose(c, up), IO);
                byte[] clientGot;
                try {
                    clientGot = c.getInputStream().readAllBytes();
                } catch (java.net.SocketTimeoutException e) {
                    clientGot = null;
                }
                try {
                    send.get(20, java.util.concurrent.TimeUnit.SECONDS);
                } catch (java.util.concurrent.TimeoutException e) {
                    System.out.println("  client: upload not done within 20 s");
                }
                byte[] serverGot;
                try {
                    serverGot = backendGot.get(20, java.util.concurrent.TimeUnit.SECONDS);
                } catch (java.util.concurrent.TimeoutException e) {
                    serverGot = new byte[0];
                    System.out.println("  backend: no end of stream within 20 s");
                }
                boolean ok = clientGot != null && Arrays.equals(sha(down), sha(clientGot))
                        && Arrays.equals(sha(up), sha(serverGot));
                if (!ok) failures++;
                System.out.printf("round %d: %s %s outbound: %d ms; client received %s of %d bytes, backend received %d of %d: %s%n",
                        round, args[0], args[1], (System.nanoTime() - t0) / 1_000_000, clientGot == null ? "TIMEOUT (no EOF within 20 s)" : clientGot.length,
                        SIZE, serverGot.length, SIZE, ok ? "OK" : "BROKEN");
            }
        }
        listener.close().sync();
        group.shutdownGracefully().sync();
        System.out.println(failures == 0 ? "PASS" : "FAIL " + failures + " of " + rounds);
        System.exit(failures == 0 ? 0 : 1);
    }

    /** Writes what it reads to {@code peer}; end of input becomes shutdownOutput on the peer. */
    static final class Forward extends ChannelInboundHandlerAdapter {
        final Channel peer;
        final String name;

        Forward(Channel peer, String name) {
            this.peer = peer;
            this.name = name;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            peer.writeAndFlush(msg).addListener((ChannelFutureListener) f -> {
                if (!f.isSuccess() && FAILED_WRITES.incrementAndGet() <= 2) {
                    System.out.println("  " + name + " -> peer write failed: " + f.cause());
                }
            });
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof ChannelInputShutdownEvent) {
                System.out.println("  end of input from " + name);
                peer.writeAndFlush(io.netty.buffer.Unpooled.EMPTY_BUFFER)
                        .addListener(f -> ((DuplexChannel) peer).shutdownOutput());
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            System.out.println("  " + name + " channel inactive");
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            System.out.println("  " + name + " error: " + cause);
            ctx.close();
        }
    }

    static void sendAndHalfClose(Socket s, byte[] data) {
        try {
            OutputStream out = s.getOutputStream();
            for (int off = 0; off < data.length; off += 65536) {
                out.write(data, off, Math.min(65536, data.length - off));
            }
            out.flush();
            s.shutdownOutput();
        } catch (Exception e) {
            throw new RuntimeException(e);
        }
    }

    static byte[] random(int size, long seed) {
        byte[] b = new byte[size];
        new Random(seed).nextBytes(b);
        return b;
    }

    static byte[] sha(byte[] b) throws Exception {
        return MessageDigest.getInstance("SHA-256").digest(b);
    }
}
