package net.hybridproxy.proxy.cli;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.SplittableRandom;

/**
 * The demo's destination server and its client, with a two-command protocol: {@code 'U' length} (client uploads
 * that many bytes, server answers their SHA-256) and {@code 'D' length seed} (server sends that many seeded
 * pseudo-random bytes; the client checks their SHA-256 against its own computation). Plain blocking sockets on
 * virtual threads: this is a test peer, not part of the data plane.
 */
final class DemoTarget implements AutoCloseable {
    private static final int CHUNK = 256 * 1024;

    private final ServerSocket server;

    DemoTarget(InetAddress address) throws IOException {
        server = new ServerSocket();
        server.bind(new InetSocketAddress(address, 0));
        Thread.ofVirtual().name("demo-target").start(this::acceptLoop);
    }

    InetSocketAddress address() {
        return (InetSocketAddress) server.getLocalSocketAddress();
    }

    private void acceptLoop() {
        while (!server.isClosed()) {
            try {
                Socket socket = server.accept();
                Thread.ofVirtual().start(() -> serve(socket));
            } catch (IOException e) {
                return;
            }
        }
    }

    private static void serve(Socket socket) {
        try (socket; DataInputStream in = new DataInputStream(socket.getInputStream());
             DataOutputStream out = new DataOutputStream(socket.getOutputStream())) {
            int command = in.read();
            long length = in.readLong();
            if (command == 'U') {
                out.write(digest(in, length));
            } else if (command == 'D') {
                generate(out, length, in.readLong());
            }
            out.flush();
            socket.shutdownOutput();
            in.transferTo(OutputStream.nullOutputStream());
        } catch (IOException | NoSuchAlgorithmException e) {
            // the demo client reports what it saw; a broken test connection needs no second report here
        }
    }

    /** Uploads {@code length} bytes through {@code via}; returns Mbit/s, verified against the server's digest. */
    static double upload(InetSocketAddress via, long length) throws Exception {
        try (Socket socket = new Socket()) {
            socket.connect(via, 10_000);
            DataOutputStream out = new DataOutputStream(socket.getOutputStream());
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            long start = System.nanoTime();
            out.write('U');
            out.writeLong(length);
            byte[] chunk = new byte[CHUNK];
            SplittableRandom random = new SplittableRandom(length);
            for (long sent = 0; sent < length; ) {
                int n = (int) Math.min(chunk.length, length - sent);
                fill(random, chunk, n);
                sha.update(chunk, 0, n);
                out.write(chunk, 0, n);
                sent += n;
            }
            out.flush();
            socket.shutdownOutput();
            byte[] theirs = socket.getInputStream().readNBytes(32);
            double seconds = (System.nanoTime() - start) / 1e9;
            byte[] ours = sha.digest();
            if (!MessageDigest.isEqual(ours, theirs)) {
                throw new IOException("upload corrupted: sent " + HexFormat.of().formatHex(ours) + ", server got "
                        + HexFormat.of().formatHex(theirs));
            }
            return length * 8 / seconds / 1e6;
        }
    }

    /** Downloads {@code length} bytes through {@code via}; returns Mbit/s, verified by SHA-256. */
    static double download(InetSocketAddress via, long length) throws Exception {
        try (Socket socket = new Socket()) {
            socket.connect(via, 10_000);
            DataOutputStream out = new DataOutputStream(socket.getOutputStream());
            long seed = length ^ 0x5DEECE66DL;
            long start = System.nanoTime();
            out.write('D');
            out.writeLong(length);
            out.writeLong(seed);
            out.flush();
            byte[] theirs = digest(socket.getInputStream(), length);
            double seconds = (System.nanoTime() - start) / 1e9;
            MessageDigest expected = MessageDigest.getInstance("SHA-256");
            byte[] chunk = new byte[CHUNK];
            SplittableRandom random = new SplittableRandom(seed);
            for (long done = 0; done < length; ) {
                int n = (int) Math.min(chunk.length, length - done);
                fill(random, chunk, n);
                expected.update(chunk, 0, n);
                done += n;
            }
            if (!MessageDigest.isEqual(expected.digest(), theirs)) {
                throw new IOException("download corrupted");
            }
            return length * 8 / seconds / 1e6;
        }
    }

    private static byte[] digest(InputStream in, long length) throws IOException, NoSuchAlgorithmException {
        MessageDigest sha = MessageDigest.getInstance("SHA-256");
        byte[] buffer = new byte[CHUNK];
        long remaining = length;
        while (remaining > 0) {
            int n = in.read(buffer, 0, (int) Math.min(buffer.length, remaining));
            if (n < 0) {
                throw new IOException("stream ended " + remaining + " bytes early");
            }
            sha.update(buffer, 0, n);
            remaining -= n;
        }
        return sha.digest();
    }

    private static void generate(OutputStream out, long length, long seed) throws IOException {
        byte[] chunk = new byte[CHUNK];
        SplittableRandom random = new SplittableRandom(seed);
        for (long sent = 0; sent < length; ) {
            int n = (int) Math.min(chunk.length, length - sent);
            fill(random, chunk, n);
            out.write(chunk, 0, n);
            sent += n;
        }
    }

    private static void fill(SplittableRandom random, byte[] chunk, int n) {
        for (int i = 0; i < n; i += 8) {
            long v = random.nextLong();
            for (int j = 0; j < 8 && i + j < n; j++) {
                chunk[i + j] = (byte) (v >>> (j * 8));
            }
        }
    }

    @Override
    public void close() throws IOException {
        server.close();
    }
}
