package net.hybridproxy.engine.multipath.frame;

import java.nio.ByteBuffer;
import java.util.List;

/**
 * Withdraws addresses announced before: RFC 8684 §3.4.2's REMOVE_ADDR.
 *
 * <pre>
 * Address ID (1) ... (1 to 255 of them)
 * </pre>
 *
 * <p>RFC 8684 §3.4.2 (paraphrased): If, during the lifetime of an MPTCP connection, a previously announced
 * address becomes invalid (e.g., if the interface disappears) ... the affected host SHOULD
 * announce this ... [and] the receiver ... SHOULD close any subflows using the address.
 *
 * @param addressIds the ids, 1..255 of them, each 0..255
 */
public record RemoveAddr(List<Integer> addressIds) implements Frame {

    public static final int MAX_IDS = 255;

    public RemoveAddr {
        addressIds = List.copyOf(addressIds);
        if (addressIds.isEmpty() || addressIds.size() > MAX_IDS) {
            throw new IllegalArgumentException("REMOVE_ADDR carries 1.." + MAX_IDS + " ids, not " + addressIds.size());
        }
        for (int id : addressIds) {
            Frame.checkU8("address id", id);
        }
    }

    @Override
    public int type() {
        return FrameType.REMOVE_ADDR;
    }

    @Override
    public int bodyLength() {
        return addressIds.size();
    }

    @Override
    public void encodeBody(ByteBuffer out) {
        for (int id : addressIds) {
            out.put((byte) id);
        }
    }

    static RemoveAddr parse(WireReader in) throws FrameException {
        int count = in.remaining();
        if (count == 0 || count > MAX_IDS) {
            throw new FrameException("REMOVE_ADDR with " + count + " ids; 1.." + MAX_IDS + " are allowed");
        }
        Integer[] ids = new Integer[count];
        for (int i = 0; i < count; i++) {
            ids[i] = in.u8("address id");
        }
        return new RemoveAddr(List.of(ids));
    }
}
