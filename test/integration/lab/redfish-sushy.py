"""A lab Redfish BMC judged by OpenStack sushy (Debian python3-sushy), the
library Ironic's redfish hardware type drives BMCs with. Runs one operation,
then prints what sushy reads back from the BMC as JSON.

usage: redfish-sushy.py PORT CA_FILE OP [ARGS...]   (password in $RF_PASSWORD)
  OP: read | boot TARGET ENABLED MODE | reset TYPE | insert URL | eject
  (values in Redfish's words: Cd Once Legacy, ForceOff...)
"""
import json
import os
import sys

import sushy

port, ca, op, args = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
# the lab's self-signed certificate is pinned: TLS is verified, not switched off
root = sushy.Sushy(f"https://127.0.0.1:{port}/redfish/v1", username="admin",
                   password=os.environ["RF_PASSWORD"], verify=ca)
system = root.get_system(root.get_system_collection().members_identities[0])
manager = root.get_manager(root.get_manager_collection().members_identities[0])
cd = manager.virtual_media.get_member(manager.virtual_media.members_identities[0])

if op == "boot":
    system.set_system_boot_options(sushy.BootSource(args[0]), enabled=sushy.BootSourceOverrideEnabled(args[1]),
                                   mode=sushy.BootSourceOverrideMode(args[2]))
elif op == "reset":
    system.reset_system(sushy.ResetType(args[0]))
elif op == "insert":
    cd.insert_media(args[0], inserted=True, write_protected=True)
elif op == "eject":
    cd.eject_media()
elif op != "read":
    sys.exit(f"unknown op {op}")
system.refresh()
cd.refresh()
session_ids = [s.split("/")[-1] for s in root.get_session_service().sessions.members_identities]
print(json.dumps({
    "auth": type(root._auth).__name__,
    "session": root._auth.get_session_resource_id() if hasattr(root._auth, "get_session_resource_id") else None,
    "sessions": session_ids,
    "power": str(system.power_state.value),
    "target": system.boot.target.value if system.boot.target else None,
    "enabled": system.boot.enabled.value if system.boot.enabled else None,
    "mode": system.boot.mode.value if system.boot.mode else None,
    "allowed_targets": sorted(str(getattr(v, "value", v)) for v in system.get_allowed_system_boot_source_values()),
    "allowed_resets": sorted(str(getattr(v, "value", v)) for v in system.get_allowed_reset_system_values()),
    "manufacturer": system.manufacturer,
    "serial": system.serial_number,
    "uuid": system.uuid,
    "media": {"image": cd.image, "image_name": cd.image_name, "inserted": cd.inserted,
              "connected_via": str(cd.connected_via.value) if cd.connected_via else None,
              "media_types": sorted(str(getattr(t, "value", t)) for t in cd.media_types)},
}))
root._auth.close()
