package net.hybridproxy.proxy.pm;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

import static net.hybridproxy.proxy.pm.NetlinkConstants.NLA_F_NESTED;
import static net.hybridproxy.proxy.pm.NetlinkConstants.NLA_HDRLEN;
import static net.hybridproxy.proxy.pm.NetlinkConstants.NLA_TYPE_MASK;
import static net.hybridproxy.proxy.pm.NetlinkConstants.align;

/** A parsed run of attributes, in the order the kernel sent them. Unknown types are kept, and simply not asked for. */
final class NetlinkAttributes {
    private final List<NetlinkAttribute> attributes;

    private NetlinkAttributes(List<NetlinkAttribute> attributes) {
        this.attributes = List.copyOf(attributes);
    }

    /**
     * Parses every attribute in {@code region} (from its position to its limit). The last attribute may omit its
     * trailing padding; any other length inconsistency is an error.
     */
    static NetlinkAttributes parse(ByteBuffer region, String where) throws MalformedNetlinkMessageException {
        ByteBuffer buf = region.slice().asReadOnlyBuffer().order(ByteOrder.nativeOrder());
        int end = buf.limit();
        int at = 0;
        List<NetlinkAttribute> out = new ArrayList<>();
        while (at < end) {
            int remaining = end - at;
            if (remaining < NLA_HDRLEN) {
                throw new MalformedNetlinkMessageException(
                        where + ": " + remaining + " trailing bytes, too short for an attribute header");
            }
            int len = buf.getShort(at) & 0xffff;
            int rawType = buf.getShort(at + 2) & 0xffff;
            if (len < NLA_HDRLEN || len > remaining) {
                throw new MalformedNetlinkMessageException(where + ": attribute " + (rawType & NLA_TYPE_MASK)
                        + " claims " + len + " bytes but " + remaining + " remain");
            }
            // A slice of a read-only buffer is read-only; its byte order starts big-endian again.
            ByteBuffer value = buf.slice(at + NLA_HDRLEN, len - NLA_HDRLEN).order(ByteOrder.nativeOrder());
            out.add(new NetlinkAttribute(rawType & NLA_TYPE_MASK, (rawType & NLA_F_NESTED) != 0, value));
            at += Math.min(align(len), remaining);
        }
        return new NetlinkAttributes(out);
    }

    List<NetlinkAttribute> all() {
        return attributes;
    }

    Optional<NetlinkAttribute> first(int type) {
        NetlinkAttribute found = firstOrNull(type);
        return found == null ? Optional.empty() : Optional.of(found);
    }

    /**
     * The first attribute of {@code type}, or null. An indexed loop: the launcher runs C1 only, which has no escape
     * analysis, so an iterator here was an allocation per lookup, several per event and several events per connection.
     */
    private NetlinkAttribute firstOrNull(int type) {
        for (int i = 0; i < attributes.size(); i++) {
            NetlinkAttribute a = attributes.get(i);
            if (a.type() == type) {
                return a;
            }
        }
        return null;
    }

    NetlinkAttribute require(int type, String what) throws MalformedNetlinkMessageException {
        NetlinkAttribute found = firstOrNull(type);
        if (found == null) {
            throw new MalformedNetlinkMessageException("missing attribute " + what);
        }
        return found;
    }

    boolean has(int type) {
        return firstOrNull(type) != null;
    }
}
