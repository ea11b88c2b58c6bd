package net.hybridproxy.proxy.relay;

import io.netty.channel.EventLoop;
import io.netty.util.concurrent.FastThreadLocal;

import java.util.ArrayList;
import java.util.List;
import java.util.function.BiFunction;

/**
 * One instance of a per-loop timer structure for each event loop and duration ({@link IdleRelays} per idle timeout,
 * {@link HeldFlushes} per hold), kept in the calling loop thread's own list: usually one entry, so a lookup per
 * connection is a thread-local read and one comparison, and no lock.
 */
final class PerLoopAndDuration<T> {
    private record Instance<T>(EventLoop loop, long nanos, T value) {
    }

    private final FastThreadLocal<List<Instance<T>>> entries = new FastThreadLocal<>() {
        @Override
        protected List<Instance<T>> initialValue() {
            return new ArrayList<>(1);
        }
    };
    private final BiFunction<EventLoop, Long, T> create;

    PerLoopAndDuration(BiFunction<EventLoop, Long, T> create) {
        this.create = create;
    }

    /** The instance for {@code nanos} on {@code loop}, created on first use; call on that loop. */
    T on(EventLoop loop, long nanos) {
        List<Instance<T>> list = entries.get();
        for (Instance<T> entry : list) {
            if (entry.nanos == nanos && entry.loop == loop) {
                return entry.value;
            }
        }
        T value = create.apply(loop, nanos);
        list.add(new Instance<>(loop, nanos, value));
        return value;
    }
}
