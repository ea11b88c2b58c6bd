package net.hybridproxy.admin;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.util.concurrent.DefaultThreadFactory;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The admin HTTP server. It runs on its own single NIO event loop, so a slow scrape or a flood of admin requests
 * can never delay relayed bytes, and it hands every request that does real work (scrape, status, readiness,
 * actions, reload) to one work thread with a short queue; when that queue is full the answer is 503.
 *
 * <p>Bounded: at most {@value #MAX_CONNECTIONS} connections, requests up to {@value #MAX_REQUEST_BYTES} bytes,
 * one request in flight per connection (the next is read only after the answer is written), idle connections
 * closed after {@value #IDLE_SECONDS} s.
 */
public final class AdminServer implements AutoCloseable {
    static final int MAX_CONNECTIONS = 64;
    static final int MAX_REQUEST_BYTES = 64 * 1024;
    static final int IDLE_SECONDS = 60;
    private static final int WORK_QUEUE = 32;
    private static final System.Logger LOG = System.getLogger("hybridproxy.admin");

    private final AdminBackend backend;
    private final AtomicReference<AdminSettings> settings;
    private final String statusPage;
    private final AtomicInteger connections = new AtomicInteger();
    private final UplinkHistory history = new UplinkHistory();
    private EventLoopGroup group;
    private ExecutorService work;
    private Channel listener;

    public AdminServer(AdminSettings settings, AdminBackend backend) {
        this.settings = new AtomicReference<>(settings);
        this.backend = backend;
        this.statusPage = resource("status.html");
    }

    /** Binds and returns once the server accepts connections. */
    public AdminServer start() throws InterruptedException {
        group = new MultiThreadIoEventLoopGroup(1, new DefaultThreadFactory("hybridproxy-admin", true),
                NioIoHandler.newFactory());
        work = new ThreadPoolExecutor(1, 1, 0, TimeUnit.SECONDS, new ArrayBlockingQueue<>(WORK_QUEUE),
                new DefaultThreadFactory("hybridproxy-admin-work", true), new ThreadPoolExecutor.AbortPolicy());
        AdminRoutes routes = new AdminRoutes(backend, settings::get, statusPage, history);
        // The sparklines' samples: taken on the work thread (a status is a copy, but the work thread is where
        // the data plane's figures are read), skipped when the queue is full rather than queued behind requests.
        group.next().scheduleAtFixedRate(this::sampleHistory, 0, UplinkHistory.INTERVAL_MILLIS, TimeUnit.MILLISECONDS);
        try {
            listener = new ServerBootstrap()
                    .group(group)
                    .channel(NioServerSocketChannel.class)
                    .option(ChannelOption.SO_REUSEADDR, true)
                    .childOption(ChannelOption.AUTO_READ, false)
                    .childOption(ChannelOption.TCP_NODELAY, true)
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            if (connections.incrementAndGet() > MAX_CONNECTIONS) {
                                connections.decrementAndGet();
                                ch.close();
                                return;
                            }
                            ch.closeFuture().addListener(f -> connections.decrementAndGet());
                            addHandlers(ch.pipeline(), routes, work);
                            ch.read();
                        }
                    })
                    .bind(settings.get().bind()).sync().channel();
        } catch (RuntimeException | InterruptedException e) {
            close();
            throw e;
        }
        LOG.log(System.Logger.Level.INFO, "admin server on http://" + describe(address())
                + (settings.get().token().isEmpty() ? " (no token: loopback only)" : " (bearer token required)"));
        return this;
    }

    private void sampleHistory() {
        try {
            work.execute(() -> {
                try {
                    history.record(System.currentTimeMillis(), backend.status().status());
                } catch (RuntimeException e) {
                    LOG.log(System.Logger.Level.WARNING, "status history sample failed", e);
                }
            });
        } catch (RejectedExecutionException busy) {
            // The work queue is full of requests: this interval's sample is skipped, the next one is taken.
        }
    }

    /** One admin connection's handlers: bounded HTTP decoding, then {@link AdminHandler} (and the fuzz tests). */
    static void addHandlers(io.netty.channel.ChannelPipeline pipeline, AdminRoutes routes, ExecutorService work) {
        pipeline.addLast(
                new IdleStateHandler(0, 0, IDLE_SECONDS, TimeUnit.SECONDS),
                new HttpServerCodec(4096, 8192, 8192),
                new HttpObjectAggregator(MAX_REQUEST_BYTES),
                new AdminHandler(routes, work));
    }

    /** The bound address (with the real port when the configured one was 0). */
    public InetSocketAddress address() {
        return (InetSocketAddress) listener.localAddress();
    }

    /**
     * Replaces the token, e.g. on a configuration reload; the bind address cannot change without a restart.
     *
     * @throws IllegalArgumentException when the new token is not acceptable for the bound address
     */
    public void updateToken(String token) {
        settings.set(new AdminSettings(settings.get().bind(), token, settings.get().allowedHosts()));
    }

    @Override
    public void close() {
        if (listener != null) {
            listener.close().syncUninterruptibly();
        }
        if (group != null) {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        }
        if (work != null) {
            work.shutdownNow();
        }
    }

    private static String describe(InetSocketAddress a) {
        String host = a.getAddress().getHostAddress();
        return (host.contains(":") ? "[" + host + "]" : host) + ":" + a.getPort();
    }

    static String resource(String name) {
        try (InputStream in = AdminServer.class.getResourceAsStream(name)) {
            if (in == null) {
                throw new IllegalStateException("missing resource " + name + " in the admin jar");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalStateException("cannot read resource " + name, e);
        }
    }
}
