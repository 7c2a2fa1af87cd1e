"""Which local addresses the forwarder offers as ICE host candidates."""

import aioice.ice

_default_get_host_addresses = aioice.ice.get_host_addresses


def use_host_addresses(addresses: list[str]) -> None:
    """Gather host candidates only on `addresses` (all interfaces when empty).

    aioice has no per-connection setting for this, so it is process-wide, which suits a
    process whose peer connections are all the forwarder's.
    """
    if addresses:
        fixed = list(addresses)
        aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: list(fixed)
    else:
        aioice.ice.get_host_addresses = _default_get_host_addresses
