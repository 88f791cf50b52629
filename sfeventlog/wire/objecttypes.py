"""Object type names <-> upstream's ``ObjectType`` enum numbers.

The enum names are ``OBJECT_TYPE_<name upper-cased, '-' as '_'>``, which is
not reversible ("api-requests" vs "artifact_fetch_op"), so the upstream
names are listed explicitly, in enum order starting at 1.
"""

from __future__ import annotations

UPSTREAM_OBJECT_TYPES: tuple[str, ...] = (
    "agentoperation", "artifact", "blob", "dhcp", "instance", "interface", "ipam",
    "namespace", "network", "node", "upload", "artifact_fetch_op", "imgcache_op",
    "net_iface_op", "net_iface_ip_op", "net_ip_op", "net_macaddr_ip_op", "net_op",
    "node_aop_op", "node_blob_op", "node_inst_net_iface_op", "node_inst_netdesc_op",
    "node_inst_op", "node_inst_snap_op", "node_net_op", "api-requests", "unknown",
    "unknown_managed_executable",
)

UNSPECIFIED = 0
NUMBER_BY_NAME: dict[str, int] = {name: i for i, name in enumerate(UPSTREAM_OBJECT_TYPES, 1)}
NAME_BY_NUMBER: dict[int, str] = {i: name for name, i in NUMBER_BY_NAME.items()}


def enum_value_name(object_type: str) -> str:
    """The proto enum value name upstream uses for ``object_type``."""
    return "OBJECT_TYPE_" + object_type.upper().replace("-", "_")
