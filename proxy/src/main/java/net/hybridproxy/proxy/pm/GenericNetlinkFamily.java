package net.hybridproxy.proxy.pm;

import java.util.Map;
import java.util.Optional;

/**
 * A generic-netlink family as the controller reported it: the numeric id requests must carry (assigned at boot,
 * so it cannot be a constant), the family version, and its multicast groups by name.
 */
public record GenericNetlinkFamily(String name, int id, int version, Map<String, Integer> multicastGroups) {
    public GenericNetlinkFamily {
        multicastGroups = Map.copyOf(multicastGroups);
    }

    public Optional<Integer> multicastGroup(String groupName) {
        return Optional.ofNullable(multicastGroups.get(groupName));
    }
}
