package net.hybridproxy.proxy.pm;

import net.hybridproxy.proxy.nativeio.NativeException;

import java.io.IOException;
import java.time.Duration;
import java.util.EnumSet;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * Listens to the kernel's MPTCP path-manager events and hands them, decoded, to a consumer.
 *
 * <p>The monitor owns its own netlink socket, subscribed to the {@code mptcp_pm_events} group, and reads it on one
 * daemon thread named {@value #THREAD_NAME}; the consumer runs on that thread, so it must be quick and
 * thread-safe with respect to its readers ({@link ConnectionTable} is). Events of types this code does not know,
 * and unknown attributes, are skipped; a malformed message is logged and skipped; a consumer that throws is
 * logged and keeps receiving. When the kernel drops events because we fell behind, the consumer gets
 * {@link MptcpEvent.EventsLost}.
 *
 * <p>The socket belongs to the network namespace of the thread that calls {@link #open}.
 */
public final class MptcpEventMonitor implements AutoCloseable {
    static final String THREAD_NAME = "mptcp-pm-events";

    private static final System.Logger LOG = System.getLogger(MptcpEventMonitor.class.getName());
    /** How often the reader wakes up to notice close(); bounds how long close() waits. */
    private static final Duration POLL = Duration.ofMillis(100);
    private static final int RECEIVE_QUEUE_BYTES = 1 << 20;

    private final NetlinkSocket socket;
    private final int familyId;
    private final Consumer<MptcpEvent> consumer;
    private final Thread reader;
    private final AtomicLong delivered = new AtomicLong();
    private final AtomicLong malformed = new AtomicLong();
    private final AtomicLong overruns = new AtomicLong();
    private volatile boolean closing;
    private volatile Throwable failure;

    private MptcpEventMonitor(NetlinkSocket socket, int familyId, Consumer<MptcpEvent> consumer) {
        this.socket = socket;
        this.familyId = familyId;
        this.consumer = consumer;
        this.reader = Thread.ofPlatform().name(THREAD_NAME).daemon(true).unstarted(this::readLoop);
    }

    /** Subscribes to every event type and starts the reader thread. */
    public static MptcpEventMonitor open(Consumer<MptcpEvent> consumer) throws IOException {
        return open(consumer, EnumSet.allOf(MptcpEvent.EventType.class));
    }

    /**
     * Subscribes and starts the reader thread; fails clearly when the kernel has no MPTCP path manager. The kernel
     * queues only the event types in {@code wanted} (a socket filter, {@link NetlinkSocket#acceptOnlyCommands}):
     * the group carries every type for every MPTCP connection in the namespace, several per connection, and each
     * one queued is a wake-up, a {@code recv} and a decode on this thread. Should the kernel refuse the filter, every
     * type is delivered, which a consumer must accept anyway ({@link MptcpEvent.EventsLost} always can come).
     */
    public static MptcpEventMonitor open(Consumer<MptcpEvent> consumer, Set<MptcpEvent.EventType> wanted)
            throws IOException {
        Objects.requireNonNull(consumer, "consumer");
        int[] commands = wanted.stream().map(MptcpEventDecoder::command).filter(OptionalInt::isPresent)
                .mapToInt(OptionalInt::getAsInt).toArray();
        if (commands.length == 0) {
            throw new IllegalArgumentException("no kernel event type wanted: " + wanted);
        }
        GenericNetlinkFamily family;
        try (GenlConnection control = GenlConnection.open(Duration.ofSeconds(5))) {
            family = control.resolveFamily(NetlinkConstants.MPTCP_PM_NAME, MptcpPathManagerClient.MISSING_FAMILY);
        }
        int group = family.multicastGroup(NetlinkConstants.MPTCP_PM_EV_GRP_NAME).orElseThrow(() -> new IOException(
                "the mptcp_pm netlink family has no " + NetlinkConstants.MPTCP_PM_EV_GRP_NAME + " multicast group"));
        NetlinkSocket socket = NetlinkSocket.open(POLL);
        try {
            try {
                socket.requestReceiveBuffer(RECEIVE_QUEUE_BYTES);
            } catch (NativeException e) {
                LOG.log(System.Logger.Level.DEBUG, "could not enlarge the event socket's receive queue", e);
            }
            if (commands.length < MptcpEvent.EventType.values().length - 1) {
                try {
                    socket.acceptOnlyCommands(commands);
                } catch (NativeException e) {
                    LOG.log(System.Logger.Level.WARNING, "could not filter MPTCP events in the kernel ("
                            + e.getMessage() + "): reading every event type");
                }
            }
            socket.joinGroup(group);
        } catch (IOException | RuntimeException e) {
            socket.close();
            throw e;
        }
        MptcpEventMonitor monitor = new MptcpEventMonitor(socket, family.id(), consumer);
        monitor.reader.start();
        return monitor;
    }

    private void readLoop() {
        try {
            while (!closing) {
                Optional<byte[]> datagram;
                try {
                    datagram = socket.receiveUnlessTimedOut();
                } catch (NativeException e) {
                    if (e.errno() == NetlinkErrno.ENOBUFS) {
                        overruns.incrementAndGet();
                        deliver(new MptcpEvent.EventsLost());
                        continue;
                    }
                    throw e;
                } catch (MalformedNetlinkMessageException e) {
                    malformed.incrementAndGet();
                    LOG.log(System.Logger.Level.WARNING, "skipping MPTCP event datagram: " + e.getMessage());
                    continue;
                }
                if (datagram.isPresent()) {
                    handle(datagram.get());
                }
            }
        } catch (Throwable t) {
            if (!closing) {
                failure = t;
                LOG.log(System.Logger.Level.ERROR, "MPTCP event monitor stopped", t);
            }
        } finally {
            socket.close();
        }
    }

    private void handle(byte[] datagram) {
        try {
            for (NetlinkMessage m : NetlinkMessage.parseAll(datagram, datagram.length)) {
                if (m.type() != familyId) {
                    continue; // NOOP/ERROR/other families: nothing for us
                }
                try {
                    Optional<MptcpEvent> event = MptcpEventDecoder.decode(m.genl());
                    event.ifPresent(this::deliver);
                } catch (MalformedNetlinkMessageException e) {
                    malformed.incrementAndGet();
                    LOG.log(System.Logger.Level.WARNING, "skipping malformed MPTCP event: " + e.getMessage());
                }
            }
        } catch (MalformedNetlinkMessageException e) {
            malformed.incrementAndGet();
            LOG.log(System.Logger.Level.WARNING, "skipping malformed MPTCP event datagram: " + e.getMessage());
        }
    }

    private void deliver(MptcpEvent event) {
        try {
            consumer.accept(event);
            delivered.incrementAndGet();
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "MPTCP event consumer failed on " + event, e);
        }
    }

    /** False once closed, or when the reader stopped on an unexpected error (see {@link #failure()}). */
    boolean isRunning() {
        return reader.isAlive() && !closing;
    }

    public Optional<Throwable> failure() {
        return Optional.ofNullable(failure);
    }

    /** Times the kernel reported dropped events (ENOBUFS). */
    public long overruns() {
        return overruns.get();
    }

    /** Stops the reader (within about {@code 100 ms}) and closes the socket. Safe to call from the consumer. */
    @Override
    public void close() {
        closing = true;
        if (Thread.currentThread() == reader) {
            return; // the loop sees the flag when the consumer returns
        }
        try {
            reader.join(Duration.ofSeconds(2));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
