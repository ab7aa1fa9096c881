"""Reference Redfish client for cross-checks: OpenStack sushy (Debian python3-sushy),
the library Ironic's redfish driver uses. Reads or changes the one ComputerSystem
of a Redfish service and prints what it sees as JSON.

usage: sushy-peer.py PORT read|write   (password in $RF_PASSWORD)
"""
import json
import os
import sys
import warnings

import sushy

warnings.filterwarnings("ignore")  # self-signed certificate of the test service

port, op = sys.argv[1], sys.argv[2]
root = sushy.Sushy(
    f"https://127.0.0.1:{port}/redfish/v1",
    username="admin",
    password=os.environ["RF_PASSWORD"],
    verify=False,
)
system = root.get_system(root.get_system_collection().members_identities[0])
if op == "write":
    system.set_system_boot_options(
        sushy.BootSource.HDD,
        enabled=sushy.BootSourceOverrideEnabled.ONCE,
        mode=sushy.BootSourceOverrideMode.LEGACY,
    )
    system.reset_system(sushy.ResetType.FORCE_OFF)
    system.refresh()
print(json.dumps({
    "power": str(system.power_state.value),
    "target": system.boot.target.value if system.boot.target else None,
    "enabled": system.boot.enabled.value if system.boot.enabled else None,
    "mode": system.boot.mode.value if system.boot.mode else None,
    "manufacturer": system.manufacturer,
    "serial": system.serial_number,
    "uuid": system.uuid,
    "allowed_resets": sorted(v.value for v in system.get_allowed_reset_system_values()),
}))
