package net.hybridproxy.loadtest.lab;

import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketAddress;
import java.net.SocketException;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Standalone traffic generator and sink that proves every byte arrived intact (SHA-256), JDK only
 * so it runs in a namespace with nothing but the test classpath.
 *
 * <pre>
 * server --listen 0.0.0.0:5001 [--io-timeout-ms 120000]
 * client --connect 198.18.30.2:5001 (--up N | --down N) [--seed S] [--bind ADDR]
 *        [--timeout-ms 120000] [--connect-timeout-ms 10000] [--expect-refused]
 * </pre>
 *
 * <p>Wire protocol, one TCP connection per transfer:
 * <ul>
 *   <li>{@code UP <n>\n}: the client sends n pattern bytes and half-closes; the server reads
 *       exactly n bytes, requires EOF right after, and answers
 *       {@code OK <sha256-hex> <peer-ip:port-as-seen>\n} then closes.</li>
 *   <li>{@code DOWN <n> <seed>\n}: the server sends n pattern bytes and half-closes; the client
 *       reads to EOF and then sends {@code GOT <sha256-hex>\n}. The server compares and logs
 *       MATCH or MISMATCH. It cannot answer on the wire because its direction is already
 *       closed; instead the client regenerates the pattern from the seed and checks the content
 *       itself, byte by byte. The GOT line still matters: it proves the client-to-server
 *       direction keeps working after the server-to-client FIN, which a proxy must preserve.</li>
 * </ul>
 * The server prints {@code LISTENING <addr:port>} once bound, then one {@code CONN peer=...} line
 * per connection when it ends. The client prints one JSON line and exits 0 only on success
 * (with {@code --expect-refused}: only if the connection was refused, reset or closed before any
 * reply). Exit 1 is a failed transfer, 2 a usage error.
 */
public final class TrafficPeer {
    /** Large I/O chunks keep the tool far from being the bottleneck at a few hundred Mbit/s. */
    static final int BUFFER_SIZE = 1 << 20;
    private static final int MAX_LINE = 512;
    private static final HexFormat HEX = HexFormat.of();

    private TrafficPeer() {
    }

    public static void main(String[] args) {
        int rc = run(args, System.out, System.err);
        System.out.flush();
        System.exit(rc);
    }

    /** Entry point without System.exit, so tests can run either side in process. */
    static int run(String[] args, PrintStream out, PrintStream err) {
        try {
            if (args.length == 0) {
                throw new IllegalArgumentException("missing mode (server|client)");
            }
            Map<String, String> opts = parseOptions(args);
            switch (args[0]) {
                case "server" -> {
                    Server s = Server.start(parseAddress(opts.getOrDefault("listen", "0.0.0.0:5001")),
                            Integer.parseInt(opts.getOrDefault("io-timeout-ms", "120000")), out);
                    s.join();
                    return 0;
                }
                case "client" -> {
                    Map<String, Object> result = client(opts);
                    out.println(Json.write(result));
                    return Boolean.TRUE.equals(result.get("ok")) ? 0 : 1;
                }
                default -> throw new IllegalArgumentException("unknown mode: " + args[0]);
            }
        } catch (IllegalArgumentException e) {
            err.println("usage error: " + e.getMessage());
            return 2;
        } catch (IOException e) {
            err.println("error: " + e);
            return 1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return 1;
        }
    }

    // ------------------------------------------------------------------ server

    /** Accepts connections, one thread each; a transfer tool needs no more sophistication. */
    static final class Server implements AutoCloseable {
        private final ServerSocket socket;
        private final int ioTimeoutMs;
        private final PrintStream log;
        private final Thread acceptor;
        private final AtomicLong connections = new AtomicLong();

        private Server(ServerSocket socket, int ioTimeoutMs, PrintStream log) {
            this.socket = socket;
            this.ioTimeoutMs = ioTimeoutMs;
            this.log = log;
            this.acceptor = Thread.ofPlatform().daemon().name("traffic-accept").unstarted(this::acceptLoop);
        }

        static Server start(InetSocketAddress listen, int ioTimeoutMs, PrintStream log) throws IOException {
            ServerSocket ss = new ServerSocket();
            ss.setReuseAddress(true);
            ss.bind(listen, 512);
            Server s = new Server(ss, ioTimeoutMs, log);
            log.println("LISTENING " + format(ss.getLocalSocketAddress()));
            log.flush();
            s.acceptor.start();
            return s;
        }

        int port() {
            return socket.getLocalPort();
        }

        void join() throws InterruptedException {
            acceptor.join();
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }

        private void acceptLoop() {
            while (!socket.isClosed()) {
                try {
                    Socket c = socket.accept();
                    long id = connections.incrementAndGet();
                    Thread.ofPlatform().daemon().name("traffic-conn-" + id).start(() -> handle(c));
                } catch (IOException e) {
                    if (!socket.isClosed()) {
                        log.println("ACCEPT-ERROR " + e);
                    }
                }
            }
        }

        private void handle(Socket s) {
            String peer = format(s.getRemoteSocketAddress());
            String op = "?";
            long bytes = -1;
            String result = "ERROR";
            String sha = "-";
            String detail = "";
            long t0 = System.nanoTime();
            try (s) {
                s.setSoTimeout(ioTimeoutMs);
                InputStream in = s.getInputStream();
                OutputStream out = s.getOutputStream();
                String request = readLine(in);
                if (request == null) {
                    detail = "closed before request";
                    return;
                }
                String[] p = request.trim().split(" +");
                op = p[0];
                MessageDigest digest = sha256();
                byte[] buf = new byte[BUFFER_SIZE];
                if (p[0].equals("UP") && p.length == 2) {
                    bytes = Long.parseLong(p[1]);
                    long got = readExactly(in, buf, bytes, digest);
                    if (got < bytes) {
                        detail = "EOF after " + got + " of " + bytes + " bytes";
                        return;
                    }
                    if (in.read() != -1) {
                        out.write("ERR data after payload\n".getBytes(StandardCharsets.US_ASCII));
                        detail = "data after payload";
                        return;
                    }
                    sha = HEX.formatHex(digest.digest());
                    out.write(("OK " + sha + " " + peer + "\n").getBytes(StandardCharsets.US_ASCII));
                    out.flush();
                    result = "OK";
                } else if (p[0].equals("DOWN") && p.length == 3) {
                    bytes = Long.parseLong(p[1]);
                    PatternStream pattern = new PatternStream(Long.parseLong(p[2]));
                    long left = bytes;
                    while (left > 0) {
                        int n = (int) Math.min(buf.length, left);
                        pattern.fill(buf, 0, n);
                        digest.update(buf, 0, n);
                        out.write(buf, 0, n);
                        left -= n;
                    }
                    out.flush();
                    s.shutdownOutput();
                    sha = HEX.formatHex(digest.digest());
                    String got = readLine(in);
                    if (got == null) {
                        detail = "closed without GOT line";
                    } else {
                        result = got.trim().equals("GOT " + sha) ? "MATCH" : "MISMATCH";
                        if (result.equals("MISMATCH")) {
                            detail = "client said: " + got.trim();
                        }
                    }
                } else {
                    out.write("ERR bad request\n".getBytes(StandardCharsets.US_ASCII));
                    detail = "bad request: " + request;
                }
            } catch (IOException | RuntimeException e) {
                detail = e.toString();
            } finally {
                double secs = (System.nanoTime() - t0) / 1e9;
                log.println("CONN peer=" + peer + " op=" + op + " bytes=" + bytes + " result=" + result
                        + " sha256=" + sha + String.format(Locale.ROOT, " seconds=%.3f", secs)
                        + (detail.isEmpty() ? "" : " detail=" + detail));
                log.flush();
            }
        }
    }

    // ------------------------------------------------------------------ client

    static Map<String, Object> client(Map<String, String> opts) throws InterruptedException {
        InetSocketAddress target = parseAddress(require(opts, "connect"));
        boolean up = opts.containsKey("up");
        if (up == opts.containsKey("down")) {
            throw new IllegalArgumentException("exactly one of --up N / --down N is required");
        }
        long bytes = Long.parseLong(opts.get(up ? "up" : "down"));
        if (bytes < 0) {
            throw new IllegalArgumentException("negative byte count");
        }
        long seed = Long.parseLong(opts.getOrDefault("seed", "1"));
        int timeoutMs = Integer.parseInt(opts.getOrDefault("timeout-ms", "120000"));
        int connectTimeoutMs = Integer.parseInt(opts.getOrDefault("connect-timeout-ms", "10000"));
        boolean expectRefused = opts.containsKey("expect-refused");

        Map<String, Object> r = new LinkedHashMap<>();
        r.put("mode", "client");
        r.put("direction", up ? "up" : "down");
        r.put("bytes", bytes);
        r.put("transferred", 0L);
        r.put("seconds", 0.0);
        r.put("mbps", 0.0);
        r.put("sha256", null);
        r.put("peerSeenByServer", null);
        r.put("serverVerdict", null);
        r.put("local", null);
        r.put("remote", format(target));
        r.put("expectRefused", expectRefused);

        Socket s = new Socket();
        AtomicBoolean timedOut = new AtomicBoolean();
        Thread watchdog = Thread.ofPlatform().daemon().name("traffic-watchdog").start(() -> {
            try {
                Thread.sleep(timeoutMs);
                timedOut.set(true);
                s.close(); // unblocks a write stuck on a black-holed path, which SO_TIMEOUT cannot
            } catch (InterruptedException | IOException ignored) {
                // Transfer finished first.
            }
        });
        long[] transferred = {0};
        // Bytes received per 100 ms, for the stall criterion (downloads): bounded by the timeout.
        long[] timeline = new long[timeoutMs / Stalls.BUCKET_MS + 2];
        boolean gotReply = false;
        String outcome;
        String error = null;
        long t0 = System.nanoTime();
        try (s) {
            if (opts.containsKey("bind")) {
                s.bind(new InetSocketAddress(InetAddress.getByName(opts.get("bind")), 0));
            }
            long connectStart = System.nanoTime();
            s.connect(target, connectTimeoutMs);
            s.setSoTimeout(timeoutMs);
            r.put("local", format(s.getLocalSocketAddress()));
            InputStream in = s.getInputStream();
            OutputStream out = s.getOutputStream();
            MessageDigest digest = sha256();
            byte[] buf = new byte[BUFFER_SIZE];
            t0 = System.nanoTime();
            if (up) {
                out.write(("UP " + bytes + "\n").getBytes(StandardCharsets.US_ASCII));
                PatternStream pattern = new PatternStream(seed);
                long left = bytes;
                while (left > 0) {
                    int n = (int) Math.min(buf.length, left);
                    pattern.fill(buf, 0, n);
                    digest.update(buf, 0, n);
                    out.write(buf, 0, n);
                    left -= n;
                    transferred[0] += n;
                }
                out.flush();
                s.shutdownOutput();
                String sha = HEX.formatHex(digest.digest());
                r.put("sha256", sha);
                String reply = readLine(in);
                if (reply == null) {
                    outcome = "eof-before-reply";
                } else {
                    gotReply = true;
                    String[] p = reply.trim().split(" +");
                    r.put("serverVerdict", p[0]);
                    if (p[0].equals("OK") && p.length == 3) {
                        r.put("peerSeenByServer", p[2]);
                        outcome = p[1].equals(sha) ? "ok" : "mismatch";
                        if (!p[1].equals(sha)) {
                            error = "server digest " + p[1];
                        }
                    } else {
                        outcome = "protocol";
                        error = "reply: " + reply.trim();
                    }
                }
            } else {
                out.write(("DOWN " + bytes + " " + seed + "\n").getBytes(StandardCharsets.US_ASCII));
                out.flush();
                PatternStream expected = new PatternStream(seed);
                byte[] exp = new byte[BUFFER_SIZE];
                long firstMismatch = -1;
                int n;
                while ((n = in.read(buf)) >= 0) {
                    if (!gotReply) {
                        // Time to first byte on a new connection: from connect() to the first byte of the object.
                        r.put("ttfbMs", round((System.nanoTime() - connectStart) / 1e6));
                    }
                    gotReply = true;
                    int bucket = (int) ((System.nanoTime() - t0) / (Stalls.BUCKET_MS * 1_000_000L));
                    timeline[Math.min(bucket, timeline.length - 1)] += n;
                    digest.update(buf, 0, n);
                    if (transferred[0] + n > bytes) {
                        break; // more than requested: counted below, never trusted
                    }
                    expected.fill(exp, 0, n);
                    if (firstMismatch < 0) {
                        int m = Arrays.mismatch(buf, 0, n, exp, 0, n);
                        if (m >= 0) {
                            firstMismatch = transferred[0] + m;
                        }
                    }
                    transferred[0] += n;
                }
                if (n >= 0) {
                    outcome = "protocol";
                    error = "server sent more than " + bytes + " bytes";
                } else {
                    String sha = HEX.formatHex(digest.digest());
                    r.put("sha256", sha);
                    if (!gotReply && bytes > 0) {
                        outcome = "eof-before-reply";
                    } else if (transferred[0] != bytes) {
                        outcome = "short";
                        error = "EOF after " + transferred[0] + " of " + bytes + " bytes";
                    } else if (firstMismatch >= 0) {
                        outcome = "mismatch";
                        error = "content differs from pattern at byte " + firstMismatch;
                    } else {
                        outcome = "ok";
                    }
                    // Sent even on failure: the server logs the verdict on its side.
                    out.write(("GOT " + sha + "\n").getBytes(StandardCharsets.US_ASCII));
                    out.flush();
                    s.shutdownOutput();
                }
            }
        } catch (IOException e) {
            outcome = classify(e, timedOut.get());
            error = e.toString();
        } finally {
            watchdog.interrupt();
        }
        double secs = (System.nanoTime() - t0) / 1e9;
        r.put("transferred", transferred[0]);
        r.put("seconds", round(secs));
        r.put("mbps", secs > 0 ? round(transferred[0] * 8 / secs / 1e6) : 0.0);
        r.put("longestStallMs", up ? 0L : Stalls.longestMs(timeline));
        boolean refusedLike = !gotReply && (outcome.equals("refused") || outcome.equals("reset")
                || outcome.equals("eof-before-reply"));
        r.put("outcome", outcome);
        r.put("error", error);
        r.put("ok", expectRefused ? refusedLike : outcome.equals("ok"));
        return r;
    }

    private static String classify(IOException e, boolean timedOut) {
        if (timedOut || e instanceof InterruptedIOException) {
            return "timeout"; // includes connect timeouts (SocketTimeoutException)
        }
        if (e instanceof ConnectException) {
            return "refused";
        }
        if (e instanceof EOFException) {
            return "eof-before-reply";
        }
        if (e instanceof SocketException && e.getMessage() != null
                && (e.getMessage().contains("reset") || e.getMessage().contains("Broken pipe"))) {
            return "reset";
        }
        return "io-error";
    }

    // ------------------------------------------------------------------ helpers

    /** Reads until exactly {@code n} bytes or EOF, hashing them; returns how many arrived. */
    private static long readExactly(InputStream in, byte[] buf, long n, MessageDigest digest) throws IOException {
        long got = 0;
        while (got < n) {
            int r = in.read(buf, 0, (int) Math.min(buf.length, n - got));
            if (r < 0) {
                break;
            }
            digest.update(buf, 0, r);
            got += r;
        }
        return got;
    }

    /**
     * Reads one {@code \n}-terminated line a byte at a time, so nothing after the line is
     * consumed from the stream. Returns null on EOF before any byte.
     */
    static String readLine(InputStream in) throws IOException {
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        int b;
        while ((b = in.read()) >= 0) {
            if (b == '\n') {
                return line.toString(StandardCharsets.US_ASCII);
            }
            if (line.size() >= MAX_LINE) {
                throw new IOException("line too long");
            }
            line.write(b);
        }
        if (line.size() == 0) {
            return null;
        }
        throw new EOFException("EOF inside line: " + line.toString(StandardCharsets.US_ASCII));
    }

    static Map<String, String> parseOptions(String[] args) {
        Map<String, String> opts = new HashMap<>();
        for (int i = 1; i < args.length; i++) {
            String a = args[i];
            if (!a.startsWith("--")) {
                throw new IllegalArgumentException("unexpected argument: " + a);
            }
            String key = a.substring(2);
            if (key.equals("expect-refused")) {
                opts.put(key, "true");
            } else if (i + 1 < args.length) {
                opts.put(key, args[++i]);
            } else {
                throw new IllegalArgumentException("missing value for " + a);
            }
        }
        return opts;
    }

    private static String require(Map<String, String> opts, String key) {
        String v = opts.get(key);
        if (v == null) {
            throw new IllegalArgumentException("--" + key + " is required");
        }
        return v;
    }

    static InetSocketAddress parseAddress(String hostPort) {
        int colon = hostPort.lastIndexOf(':');
        if (colon <= 0) {
            throw new IllegalArgumentException("expected host:port, got " + hostPort);
        }
        String host = hostPort.substring(0, colon).replace("[", "").replace("]", "");
        return new InetSocketAddress(host, Integer.parseInt(hostPort.substring(colon + 1)));
    }

    static String format(SocketAddress a) {
        if (a instanceof InetSocketAddress i && i.getAddress() != null) {
            String host = i.getAddress().getHostAddress();
            return (host.contains(":") ? "[" + host + "]" : host) + ":" + i.getPort();
        }
        return String.valueOf(a);
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static double round(double v) {
        return Math.round(v * 1000) / 1000.0;
    }

    /**
     * Deterministic pseudo-random bytes from a seed (SplitMix64 output, little-endian), the same
     * stream however it is chunked, so both ends can produce or check it independently.
     * Incompressible enough that no layer can cheat by compressing it.
     */
    static final class PatternStream {
        private static final VarHandle LONG_LE =
                MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
        private long state;
        private long pending;
        private int pendingBytes;

        PatternStream(long seed) {
            this.state = seed;
        }

        private long next() {
            long z = (state += 0x9E3779B97F4A7C15L);
            z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
            z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
            return z ^ (z >>> 31);
        }

        void fill(byte[] b, int off, int len) {
            while (len > 0 && pendingBytes > 0) {
                b[off++] = (byte) pending;
                pending >>>= 8;
                pendingBytes--;
                len--;
            }
            while (len >= 8) {
                LONG_LE.set(b, off, next());
                off += 8;
                len -= 8;
            }
            if (len > 0) {
                pending = next();
                pendingBytes = 8;
                while (len > 0) {
                    b[off++] = (byte) pending;
                    pending >>>= 8;
                    pendingBytes--;
                    len--;
                }
            }
        }
    }
}
