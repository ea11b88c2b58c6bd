package net.hybridproxy.engine.multipath.frame;

/** The Type bytes of version 1, in one place so that no two frames can share one. */
public final class FrameType {

    public static final int CAPABLE_SYN = 0x01;
    public static final int CAPABLE_SYNACK = 0x02;
    public static final int CAPABLE_ACK = 0x03;
    public static final int JOIN_SYN = 0x04;
    public static final int JOIN_SYNACK = 0x05;
    public static final int JOIN_ACK = 0x06;
    public static final int SUBFLOW_RESET = 0x07;
    public static final int DATA = 0x10;
    public static final int DATA_ACK = 0x11;
    public static final int FAST_CLOSE = 0x12;
    public static final int ADD_ADDR = 0x20;
    public static final int REMOVE_ADDR = 0x21;
    public static final int MP_PRIO = 0x22;
    public static final int PING = 0x30;
    public static final int PONG = 0x31;

    private FrameType() {
    }
}
