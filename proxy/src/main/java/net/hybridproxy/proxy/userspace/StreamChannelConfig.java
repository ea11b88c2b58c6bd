package net.hybridproxy.proxy.userspace;

import io.netty.channel.ChannelOption;
import io.netty.channel.DefaultChannelConfig;

import java.util.Map;

/**
 * A stream channel's options: Netty's common ones plus {@link ChannelOption#ALLOW_HALF_CLOSURE}, which decides
 * whether the peer's DATA_FIN is an input shutdown (on) or closes the channel (off), as for TCP channels. Socket
 * options (TCP_NODELAY, SO_LINGER, ...) have no meaning for a stream and are refused, so a bootstrap that sets
 * them says so in its log.
 */
public final class StreamChannelConfig extends DefaultChannelConfig {
    private volatile boolean allowHalfClosure;

    StreamChannelConfig(StreamChannel channel) {
        super(channel);
    }

    @Override
    public Map<ChannelOption<?>, Object> getOptions() {
        return getOptions(super.getOptions(), ChannelOption.ALLOW_HALF_CLOSURE);
    }

    @Override
    @SuppressWarnings("unchecked")
    public <T> T getOption(ChannelOption<T> option) {
        if (option == ChannelOption.ALLOW_HALF_CLOSURE) {
            return (T) Boolean.valueOf(allowHalfClosure);
        }
        return super.getOption(option);
    }

    @Override
    public <T> boolean setOption(ChannelOption<T> option, T value) {
        validate(option, value);
        if (option == ChannelOption.ALLOW_HALF_CLOSURE) {
            allowHalfClosure = (Boolean) value;
            return true;
        }
        return super.setOption(option, value);
    }

    public boolean isAllowHalfClosure() {
        return allowHalfClosure;
    }

    public StreamChannelConfig setAllowHalfClosure(boolean allow) {
        this.allowHalfClosure = allow;
        return this;
    }
}
