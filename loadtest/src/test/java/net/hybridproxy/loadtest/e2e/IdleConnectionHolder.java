package net.hybridproxy.loadtest.e2e;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Opens many connections from the lab's client namespace and holds them idle, in a JVM of its own: the test JVM
 * already holds the echo server's end of each, and one process holding both ends of 10 000 connections would need
 * more descriptors than the machine's hard limit allows.
 *
 * <p>Arguments: {@code BIND-ADDRESS HOST PORT}. Commands on standard input, one per line, each answered with one
 * line starting with {@code OK}: {@code open N PARALLEL TIMEOUT-MS} opens N more connections, each proven end to end
 * by one echoed byte within the timeout ({@code OK held=H failed=F millis=M}; a connection that fails is closed and
 * counted); {@code close} closes every held connection. End of input exits.
 */
public final class IdleConnectionHolder {
    private final String bind;
    private final InetSocketAddress target;
    private final List<Socket> held = new ArrayList<>();

    private IdleConnectionHolder(String bind, InetSocketAddress target) {
        this.bind = bind;
        this.target = target;
    }

    public static void main(String[] args) throws Exception {
        IdleConnectionHolder holder = new IdleConnectionHolder(args[0],
                new InetSocketAddress(args[1], Integer.parseInt(args[2])));
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            String[] words = line.trim().split("\\s+");
            switch (words[0]) {
                case "open" -> System.out.println(holder.open(Integer.parseInt(words[1]), Integer.parseInt(words[2]),
                        Integer.parseInt(words[3])));
                case "close" -> {
                    holder.closeAll();
                    System.out.println("OK closed");
                }
                default -> System.out.println("ERR unknown command " + line);
            }
            System.out.flush();
        }
        holder.closeAll();
    }

    private String open(int count, int parallel, int timeoutMillis) throws Exception {
        long started = System.nanoTime();
        AtomicInteger failed = new AtomicInteger();
        Semaphore permits = new Semaphore(parallel);
        List<Future<Socket>> opened = new ArrayList<>();
        try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
            for (int i = 0; i < count; i++) {
                permits.acquire();
                opened.add(threads.submit(() -> {
                    try {
                        return connect(timeoutMillis);
                    } catch (IOException e) {
                        failed.incrementAndGet();
                        return null;
                    } finally {
                        permits.release();
                    }
                }));
            }
        }
        for (Future<Socket> f : opened) {
            Socket s = f.get();
            if (s != null) {
                held.add(s);
            }
        }
        return "OK held=" + held.size() + " failed=" + failed.get() + " millis="
                + (System.nanoTime() - started) / 1_000_000;
    }

    private Socket connect(int timeoutMillis) throws IOException {
        Socket s = new Socket();
        try {
            s.bind(new InetSocketAddress(bind, 0));
            s.connect(target, timeoutMillis);
            s.setSoTimeout(timeoutMillis);
            s.getOutputStream().write(42);
            if (s.getInputStream().read() != 42) {
                throw new IOException("no echo");
            }
            return s;
        } catch (IOException e) {
            s.close();
            throw e;
        }
    }

    private void closeAll() {
        for (Socket s : held) {
            try {
                s.close();
            } catch (IOException ignored) {
                // closing anyway
            }
        }
        held.clear();
    }
}
