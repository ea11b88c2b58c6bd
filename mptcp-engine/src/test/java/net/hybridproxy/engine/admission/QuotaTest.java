package net.hybridproxy.engine.admission;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class QuotaTest {

    @Test
    void oneKeyAtItsLimitLeavesOtherKeysUnaffected() {
        Quota<String> quota = new Quota<>("connections per key", 2);
        assertTrue(quota.tryAcquire("a").isPresent());
        assertTrue(quota.tryAcquire("a").isPresent());
        assertTrue(quota.tryAcquire("a").isEmpty(), "a third permit for a");
        assertTrue(quota.tryAcquire("b").isPresent(), "b must not pay for a");
        assertEquals(2, quota.held("a"));
        assertEquals(1, quota.held("b"));
    }

    @Test
    void aPermitIsReturnedOnceHoweverOftenItIsReleased() {
        Quota<String> quota = new Quota<>("pending per source", 2);
        Quota<String>.Permit first = quota.tryAcquire("a").orElseThrow();
        quota.tryAcquire("a").orElseThrow();
        first.release();
        first.release();
        first.release();
        assertEquals(1, quota.held("a"), "a double release would hand out a permit nobody returned");
    }

    @Test
    void keysWithoutPermitsTakeNoRoom() {
        Quota<String> quota = new Quota<>("q", 1);
        for (int i = 0; i < 1000; i++) {
            quota.tryAcquire("k" + i).orElseThrow().release();
        }
        assertEquals(0, quota.keysInUse());
    }

    @Test
    void neverHandsOutMoreThanTheLimitUnderConcurrentUse() throws Exception {
        Quota<String> quota = new Quota<>("q", 50);
        AtomicInteger inside = new AtomicInteger();
        AtomicInteger maxInside = new AtomicInteger();
        CountDownLatch start = new CountDownLatch(1);
        List<Thread> threads = new ArrayList<>();
        for (int t = 0; t < 8; t++) {
            threads.add(Thread.ofPlatform().start(() -> {
                try {
                    start.await();
                } catch (InterruptedException e) {
                    return;
                }
                for (int i = 0; i < 20_000; i++) {
                    quota.tryAcquire("k").ifPresent(p -> {
                        maxInside.accumulateAndGet(inside.incrementAndGet(), Math::max);
                        inside.decrementAndGet();
                        p.release();
                        p.release();
                    });
                }
            }));
        }
        start.countDown();
        for (Thread t : threads) {
            t.join();
        }
        assertTrue(maxInside.get() <= 50, "held " + maxInside.get());
        assertEquals(0, quota.held("k"));
    }

    @Test
    void refusesALimitBelowOne() {
        assertThrows(IllegalArgumentException.class, () -> new Quota<>("q", 0));
    }
}
