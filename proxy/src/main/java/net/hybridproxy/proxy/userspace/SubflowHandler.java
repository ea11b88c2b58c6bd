package net.hybridproxy.proxy.userspace;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.util.ReferenceCountUtil;

import java.lang.System.Logger.Level;

/**
 * The last handler of a subflow's TCP channel: bytes go to the session, writability changes become fresh
 * estimates, and a transport error closes this subflow only (the session reinjects what it carried).
 */
final class SubflowHandler extends ChannelInboundHandlerAdapter {
    private static final System.Logger LOG = System.getLogger("hybridproxy.userspace");

    private final SessionDriver driver;
    private final long subflowId;

    SubflowHandler(SessionDriver driver, long subflowId) {
        this.driver = driver;
        this.subflowId = subflowId;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof ByteBuf buf) {
            driver.subflowBytes(subflowId, ctx.channel(), buf);
        } else {
            ReferenceCountUtil.release(msg);
        }
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        driver.subflowWritabilityChanged(subflowId);
        ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        LOG.log(Level.INFO, () -> driver + ": subflow " + subflowId + " failed: " + cause);
        ctx.close();
    }
}
